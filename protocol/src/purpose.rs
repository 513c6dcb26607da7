//! Consent purposes, the consent state every event carries, and the device's drop
//! counters. Every event needs exactly one purpose; the SDKs neither queue nor send
//! an event whose purpose is not granted, and the collector checks
//! `context.consent[context.purpose]` again.

/// What an event is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
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

    /// The name used on the wire (`context.purpose`, the keys of `context.consent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Analytics => "analytics",
            Purpose::Personalization => "personalization",
            Purpose::Marketing => "marketing",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// A stable small number (SDK store key prefixes).
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn from_index(i: u8) -> Option<Purpose> {
        Purpose::ALL.get(i as usize).copied()
    }
}

impl core::fmt::Display for Purpose {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user's consent: one flag per purpose. On the wire
/// `{"analytics":bool,"personalization":bool,"marketing":bool}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

    /// Purposes granted in `self` but not in `next` (revoked by moving to `next`).
    pub fn revoked_by(&self, next: &Consent) -> impl Iterator<Item = Purpose> + '_ {
        let next = *next;
        Purpose::ALL
            .iter()
            .copied()
            .filter(move |p| self.allows(*p) && !next.allows(*p))
    }
}

/// Counters of events dropped on the device since the last delivered batch, sent
/// as `context.dropped` on the first message of each batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Dropped {
    /// Evicted (oldest first) because the queue hit its count or byte bound.
    pub overflow: u64,
    /// Evicted because older than the queue's age bound.
    pub expired: u64,
    /// Refused by the collector with a 4xx that drops a batch.
    pub rejected: u64,
    /// A single event the collector still refused with 413.
    pub too_large: u64,
}

impl Dropped {
    pub fn total(&self) -> u64 {
        self.overflow + self.expired + self.rejected + self.too_large
    }

    /// Removes counts that have now been reported.
    pub fn subtract(&mut self, reported: &Dropped) {
        self.overflow = self.overflow.saturating_sub(reported.overflow);
        self.expired = self.expired.saturating_sub(reported.expired);
        self.rejected = self.rejected.saturating_sub(reported.rejected);
        self.too_large = self.too_large.saturating_sub(reported.too_large);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_revocation() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::from_index(p.index()), Some(p));
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        let c = Consent::only(&[Purpose::Analytics, Purpose::Marketing]);
        let next = Consent::only(&[Purpose::Analytics]);
        assert_eq!(
            c.revoked_by(&next).collect::<Vec<_>>(),
            [Purpose::Marketing]
        );
    }

    #[test]
    fn dropped_subtracts_reported() {
        let mut d = Dropped {
            overflow: 3,
            expired: 1,
            ..Dropped::default()
        };
        d.subtract(&Dropped {
            overflow: 5,
            ..Dropped::default()
        });
        assert_eq!((d.overflow, d.expired, d.total()), (0, 1, 1));
    }
}
