//! A/B tests (seed 001). Rules:
//!
//! - assignment is deterministic: SHA-256 of `experiment id ':' identity` picks a
//!   variant by weight, the identity being the user's pseudonym, else the anonymous
//!   identity, so a person keeps a variant across requests, restarts and replicas;
//! - a response names its variants in `experiments` and in `modelVersion`
//!   (`cairn-reco-1+reco-strategy=blended`), which the shop sends back in
//!   `recommendation_shown` / `recommendation_clicked`;
//! - an event is attributed to the variants its properties name (`experiment` and
//!   `variant`), else to those in its `model_version`, else to the subject's
//!   assignment;
//! - per variant: exposures (`experiment_exposure`), impressions
//!   (`recommendation_shown`), clicks (`recommendation_clicked`), add-to-carts of a
//!   product shown to the person in that variant; CTR = clicks / impressions,
//!   add-to-cart rate = add-to-carts / impressions.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    rules::{Experiment, Rules, Strategy},
    MODEL_VERSION,
};

/// The variant `identity` gets in `exp`.
pub fn assign<'a>(exp: &'a Experiment, identity: &str) -> &'a crate::rules::Variant {
    let digest = cairn_protocol::sha256::sha256(&[exp.id.as_bytes(), b":", identity.as_bytes()]);
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let total: u64 = exp.variants.iter().map(|v| v.weight as u64).sum();
    let mut pick = n % total.max(1);
    for v in &exp.variants {
        if pick < v.weight as u64 {
            return v;
        }
        pick -= v.weight as u64;
    }
    &exp.variants[0]
}

/// A person's variants and the strategy they imply (the first experiment's).
pub fn assignments(rules: &Rules, identity: Option<&str>) -> (Vec<(String, String)>, Strategy) {
    let Some(identity) = identity else {
        return (Vec::new(), Strategy::Blended);
    };
    let mut strategy = None;
    let mut out = Vec::new();
    for e in &rules.experiments {
        let v = assign(e, identity);
        strategy.get_or_insert(v.strategy);
        out.push((e.id.clone(), v.name.clone()));
    }
    (out, strategy.unwrap_or(Strategy::Blended))
}

/// `cairn-reco-1+exp=variant,exp2=variant2`.
pub fn model_version(assigned: &[(String, String)]) -> String {
    if assigned.is_empty() {
        return MODEL_VERSION.to_owned();
    }
    let pairs: Vec<String> = assigned.iter().map(|(e, v)| format!("{e}={v}")).collect();
    format!("{MODEL_VERSION}+{}", pairs.join(","))
}

/// The variants a model version names.
pub fn parse_model_version(version: &str) -> Vec<(String, String)> {
    let Some((_, pairs)) = version.split_once('+') else {
        return Vec::new();
    };
    pairs
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(e, v)| (e.to_owned(), v.to_owned()))
        .collect()
}

/// The variants an event counts for.
pub fn attribute(
    rules: &Rules,
    properties: &serde_json::Map<String, Value>,
    subject: Option<&str>,
) -> Vec<(String, String)> {
    let s = |k: &str| properties.get(k).and_then(Value::as_str);
    if let (Some(e), Some(v)) = (s("experiment"), s("variant")) {
        return vec![(e.to_owned(), v.to_owned())];
    }
    if let Some(mv) = s("model_version") {
        let named = parse_model_version(mv);
        if !named.is_empty() {
            return named;
        }
    }
    assignments(rules, subject).0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VariantStats {
    pub exposures: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub add_to_carts: u64,
}

impl VariantStats {
    pub fn view(&self) -> Value {
        let rate = |n: u64| {
            if self.impressions == 0 {
                0.0
            } else {
                n as f64 / self.impressions as f64
            }
        };
        json!({
            "exposures": self.exposures,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "add_to_carts": self.add_to_carts,
            "ctr": rate(self.clicks),
            "add_to_cart_rate": rate(self.add_to_carts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{default_file, Rules};

    #[test]
    fn assignment_is_deterministic_and_weighted() {
        let rules = Rules::compile(default_file()).unwrap();
        let e = &rules.experiments[0];
        let mut blended = 0;
        for i in 0..2000 {
            let id = format!("user-{i}");
            let v = assign(e, &id).name.clone();
            assert_eq!(assign(e, &id).name, v);
            blended += (v == "blended") as i32;
        }
        assert!((850..1150).contains(&blended), "{blended}");
        let (a, _) = assignments(&rules, Some("x"));
        let mv = model_version(&a);
        assert!(mv.starts_with("cairn-reco-1+reco-strategy="));
        assert_eq!(parse_model_version(&mv), a);
        assert_eq!(parse_model_version("cairn-reco-1"), vec![]);
    }
}
