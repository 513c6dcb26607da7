//! Consent purposes and state. Every event needs exactly one purpose; the engine
//! neither queues nor persists an event whose purpose is not granted, and the
//! state is sent in `context.consent` so the collector can check it again.

pub use cairn_protocol::{Consent, Purpose};

/// Whether consent must be given (opt-in, the default) or is assumed until refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsentMode {
    /// Nothing is collected until the user grants a purpose.
    #[default]
    OptIn,
    /// Everything is collected until the user revokes a purpose.
    OptOut,
}

/// The state a fresh install starts in.
pub fn initial(mode: ConsentMode) -> Consent {
    match mode {
        ConsentMode::OptIn => Consent::none(),
        ConsentMode::OptOut => Consent::all(),
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
        assert_eq!(initial(ConsentMode::OptIn), Consent::none());
        assert_eq!(initial(ConsentMode::OptOut), Consent::all());
    }
}
