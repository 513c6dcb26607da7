//! Cohort rules and experiments, from a JSON file (`--rules`) or the built-in defaults
//! below. Every rule is parsed at start: a typo in a field name stops the service with
//! the rule's id, instead of a cohort that silently stays empty.
//!
//! ```json
//! {"cohorts": [{"id": "champion", "rule": "engagement_tier == 'champion' AND days_since_last_visit < 7"}],
//!  "experiments": [{"id": "reco-strategy", "variants": [
//!      {"name": "blended", "weight": 50, "strategy": "blended"},
//!      {"name": "recent", "weight": 50, "strategy": "recent"}]}]}
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{cohorts::Expr, RecoError};

/// How a variant ranks (see `recommend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Co-occurrence with everything the person did, category affinity, popularity.
    Blended,
    /// As blended, but from the person's five most recent products only.
    Recent,
    /// Popular items only (the baseline).
    Popular,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
    pub strategy: Strategy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Experiment {
    pub id: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CohortRule {
    pub id: String,
    pub rule: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RulesFile {
    #[serde(default)]
    pub cohorts: Vec<CohortRule>,
    #[serde(default)]
    pub experiments: Vec<Experiment>,
}

/// Rules, parsed.
#[derive(Debug, Clone)]
pub struct Rules {
    pub cohorts: Vec<(String, Expr)>,
    pub experiments: Vec<Experiment>,
}

pub fn default_file() -> RulesFile {
    let c = |id: &str, rule: &str| CohortRule {
        id: id.into(),
        rule: rule.into(),
    };
    RulesFile {
        cohorts: vec![
            c("champion", "engagement_tier == 'champion' AND days_since_last_visit < 7"),
            c("at_risk", "engagement_tier IN ('loyal', 'champion') AND days_since_last_visit > 14"),
            c("dormant", "days_since_last_visit > 30"),
            c("buyers", "purchases >= 1"),
            c("cart_abandoners", "add_to_carts >= 1 AND purchases == 0"),
            c("big_spenders", "price_band == 'premium'"),
            c("app_users", "device_preference IN ('mobile', 'tablet') OR platform_preference IN ('android', 'ios')"),
            c("weekend_shoppers", "'Saturday' IN peak_days OR 'Sunday' IN peak_days"),
        ],
        experiments: vec![Experiment {
            id: "reco-strategy".into(),
            variants: vec![
                Variant {
                    name: "blended".into(),
                    weight: 50,
                    strategy: Strategy::Blended,
                },
                Variant {
                    name: "recent".into(),
                    weight: 50,
                    strategy: Strategy::Recent,
                },
            ],
        }],
    }
}

impl Rules {
    pub fn load(path: Option<&Path>) -> Result<Self, RecoError> {
        let file = match path {
            None => default_file(),
            Some(p) => {
                let bytes = std::fs::read(p)
                    .map_err(|e| RecoError::Config(format!("{}: {e}", p.display())))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| RecoError::Config(format!("{}: {e}", p.display())))?
            }
        };
        Self::compile(file)
    }

    pub fn compile(file: RulesFile) -> Result<Self, RecoError> {
        let mut cohorts = Vec::new();
        for c in file.cohorts {
            if !valid_id(&c.id) || cohorts.iter().any(|(id, _)| *id == c.id) {
                return Err(RecoError::Config(format!(
                    "cohort id {:?} is empty, repeated or not [A-Za-z0-9_-]",
                    c.id
                )));
            }
            let expr = Expr::parse(&c.rule)
                .map_err(|e| RecoError::Config(format!("cohort {}: {e}", c.id)))?;
            cohorts.push((c.id, expr));
        }
        for e in &file.experiments {
            let total: u32 = e.variants.iter().map(|v| v.weight).sum();
            if !valid_id(&e.id) || total == 0 || e.variants.iter().any(|v| !valid_id(&v.name)) {
                return Err(RecoError::Config(format!(
                    "experiment {:?}: ids and variant names must be [A-Za-z0-9_-] and weights must add up to more than 0",
                    e.id
                )));
            }
        }
        Ok(Self {
            cohorts,
            experiments: file.experiments,
        })
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compile_and_typos_are_refused() {
        let rules = Rules::compile(default_file()).unwrap();
        assert_eq!(rules.cohorts.len(), 8);
        let mut bad = default_file();
        bad.cohorts[0].rule = "engagment_tier == 'x'".into();
        let err = Rules::compile(bad).unwrap_err().to_string();
        assert!(
            err.contains("champion") && err.contains("engagment_tier"),
            "{err}"
        );
    }
}
