//! Consent as the app sees it: the mode, the purposes and the per-purpose flags, with
//! their conversions to and from the core's types. Plain data shared by the config,
//! the events and the tracker, so it lives in none of them.

/// Opt-in (nothing is collected until a purpose is granted) or opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentMode {
    OptIn,
    OptOut,
}

/// What an event is used for; consent is given per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Purpose {
    Analytics,
    Personalization,
    Marketing,
}

impl From<Purpose> for cairn::Purpose {
    fn from(p: Purpose) -> Self {
        match p {
            Purpose::Analytics => cairn::Purpose::Analytics,
            Purpose::Personalization => cairn::Purpose::Personalization,
            Purpose::Marketing => cairn::Purpose::Marketing,
        }
    }
}

/// The user's consent, one flag per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ConsentState {
    #[uniffi(default = false)]
    pub analytics: bool,
    #[uniffi(default = false)]
    pub personalization: bool,
    #[uniffi(default = false)]
    pub marketing: bool,
}

impl From<ConsentState> for cairn::Consent {
    fn from(c: ConsentState) -> Self {
        cairn::Consent {
            analytics: c.analytics,
            personalization: c.personalization,
            marketing: c.marketing,
        }
    }
}

impl From<cairn::Consent> for ConsentState {
    fn from(c: cairn::Consent) -> Self {
        ConsentState {
            analytics: c.analytics,
            personalization: c.personalization,
            marketing: c.marketing,
        }
    }
}
