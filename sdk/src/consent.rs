//! Consent purposes and state. Every event needs exactly one purpose; the engine
//! neither queues nor persists an event whose purpose is not granted, and the
//! state is sent in `context.consent` so the collector can check it again.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an event is used for. The collector checks `context.consent[context.purpose]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Analytics,
    Personalization,
    Marketing,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [
        Purpose::Analytics,
        Purpose::Personalization,
        Purpose::Marketing,
    ];

    /// The name used on the wire and in store keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Analytics => "analytics",
            Purpose::Personalization => "personalization",
            Purpose::Marketing => "marketing",
        }
    }

    /// A stable small number, used as a store key prefix.
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn from_index(i: u8) -> Option<Purpose> {
        Purpose::ALL.get(i as usize).copied()
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether consent must be given (opt-in, the default) or is assumed until refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsentMode {
    /// Nothing is collected until the user grants a purpose.
    #[default]
    OptIn,
    /// Everything is collected until the user revokes a purpose.
    OptOut,
}

/// The user's consent: one flag per purpose. Serialises as
/// `{"analytics":bool,"personalization":bool,"marketing":bool}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Consent {
    pub analytics: bool,
    pub personalization: bool,
    pub marketing: bool,
}

impl Consent {
    /// Every purpose granted.
    pub fn all() -> Self {
        Consent {
            analytics: true,
            personalization: true,
            marketing: true,
        }
    }

    /// No purpose granted.
    pub fn none() -> Self {
        Consent::default()
    }

    /// Only the given purposes granted.
    pub fn only(purposes: &[Purpose]) -> Self {
        let mut c = Consent::none();
        for p in purposes {
            c.set(*p, true);
        }
        c
    }

    /// The state a fresh install starts in.
    pub fn initial(mode: ConsentMode) -> Self {
        match mode {
            ConsentMode::OptIn => Consent::none(),
            ConsentMode::OptOut => Consent::all(),
        }
    }

    pub fn allows(&self, p: Purpose) -> bool {
        match p {
            Purpose::Analytics => self.analytics,
            Purpose::Personalization => self.personalization,
            Purpose::Marketing => self.marketing,
        }
    }

    pub fn set(&mut self, p: Purpose, granted: bool) {
        match p {
            Purpose::Analytics => self.analytics = granted,
            Purpose::Personalization => self.personalization = granted,
            Purpose::Marketing => self.marketing = granted,
        }
    }

    /// Purposes granted in `self` but not in `next` (i.e. revoked by moving to `next`).
    pub fn revoked_by(&self, next: &Consent) -> Vec<Purpose> {
        Purpose::ALL
            .into_iter()
            .filter(|p| self.allows(*p) && !next.allows(*p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_and_revocation() {
        let c = Consent::only(&[Purpose::Analytics, Purpose::Marketing]);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"analytics":true,"personalization":false,"marketing":true}"#
        );
        let next = Consent::only(&[Purpose::Analytics]);
        assert_eq!(c.revoked_by(&next), vec![Purpose::Marketing]);
        assert_eq!(Consent::initial(ConsentMode::OptIn), Consent::none());
        assert_eq!(Consent::initial(ConsentMode::OptOut), Consent::all());
        for p in Purpose::ALL {
            assert_eq!(Purpose::from_index(p.index()), Some(p));
        }
    }
}
