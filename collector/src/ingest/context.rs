//! Cairn's own fields in `context`, checked per event: `context.hashed` (what the SDK
//! hashed on the device), `context.purpose` and `context.consent`, and the consent
//! record.

use cairn_protocol::{
    events::CONSENT_CHANGED,
    field::{CONSENT, CONSENT_RECORD_PURPOSE, HASHED, PURPOSE},
    identity::{contact_trait, CONTEXT_TRAITS_PREFIX, PREVIOUS_ID, TRAITS_PREFIX, USER_ID},
    Kind, Purpose,
};
use serde_json::{Map, Value};

use super::validate::Refusal;
use crate::privacy::is_device_hash;

/// The purpose of an event that names none.
const DEFAULT_PURPOSE: Purpose = Purpose::Analytics;

/// `context.hashed` lists the identifiers the SDK hashed under the project hash key:
/// `userId`, `previousId`, `traits.<key>` or `context.traits.<key>` of a contact trait
/// (as the key is sent). Each listed field that is present must be a device hash
/// (64 lower-case hex digits).
pub fn check_hashed(event: &Map<String, Value>) -> Result<(), Refusal> {
    let Some(listed) = context_field(event, HASHED) else {
        return Ok(());
    };
    let invalid = |message: String| Err(Refusal::new("invalid_hashed", message));
    let Some(paths) = listed.as_array() else {
        return invalid("context.hashed must be a list of field paths".into());
    };
    for path in paths {
        let Some(path) = path.as_str() else {
            return invalid("context.hashed must be a list of field paths".into());
        };
        let value = if path == USER_ID || path == PREVIOUS_ID {
            event.get(path)
        } else {
            let (traits, key) = if let Some(key) = path.strip_prefix(CONTEXT_TRAITS_PREFIX) {
                (context_field(event, "traits"), key)
            } else if let Some(key) = path.strip_prefix(TRAITS_PREFIX) {
                (event.get("traits"), key)
            } else {
                return invalid(format!(
                    "context.hashed lists {path:?}; only userId, previousId and traits are hashed"
                ));
            };
            if contact_trait(key).is_none() {
                return invalid(format!(
                    "context.hashed lists {path:?}, which is not an e-mail or phone trait"
                ));
            }
            trait_value(traits, key)
        };
        match value {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if is_device_hash(s) => {}
            Some(_) => {
                return invalid(format!(
                    "{path} is listed in context.hashed but is not 64 lower-case hex digits"
                ))
            }
        }
    }
    Ok(())
}

fn trait_value<'a>(traits: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    traits?.as_object()?.get(key)
}

pub fn context_field<'a>(event: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    event.get("context")?.as_object()?.get(name)
}

/// The consent record (`consent_changed` with purpose `consent`) needs no purpose and
/// carries exactly the three purpose flags. Any other event whose `context.consent` is
/// present must be granted its purpose (`context.purpose`, default analytics); the
/// purpose `consent` belongs to the consent record alone. Accepts Cairn's
/// `{purpose: bool}` and Segment's `{categoryPreferences: {Purpose: bool}}`.
pub fn check_consent(event: &Map<String, Value>, kind: Kind) -> Result<(), Refusal> {
    let purpose = match context_field(event, PURPOSE) {
        None | Some(Value::Null) => DEFAULT_PURPOSE.as_str(),
        Some(Value::String(p)) => p.as_str(),
        Some(_) => {
            return Err(Refusal::new(
                "invalid_field",
                "context.purpose must be a string",
            ))
        }
    };
    if purpose == CONSENT_RECORD_PURPOSE {
        let is_record = kind == Kind::Track
            && event.get("event").and_then(Value::as_str) == Some(CONSENT_CHANGED);
        if !is_record {
            return Err(Refusal::new(
                "invalid_purpose",
                format!("purpose {CONSENT_RECORD_PURPOSE:?} is only for the {CONSENT_CHANGED} track event"),
            ));
        }
        return check_consent_record(event);
    }
    let Some(consent) = context_field(event, CONSENT) else {
        return Ok(());
    };
    let Some(mut grants) = consent.as_object() else {
        return Err(Refusal::new(
            "invalid_field",
            "context.consent must be an object",
        ));
    };
    if let Some(Value::Object(categories)) = grants.get("categoryPreferences") {
        grants = categories;
    }
    // Every key naming the purpose, in any case, must grant it: one `false` among
    // `{"analytics": false, "Analytics": true}` refuses.
    let mut named = grants
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(purpose))
        .peekable();
    let granted = named.peek().is_some() && named.all(|(_, v)| v.as_bool() == Some(true));
    if granted {
        Ok(())
    } else {
        Err(Refusal::new(
            "consent",
            format!("consent for purpose {purpose:?} is not granted"),
        ))
    }
}

/// The consent record's properties are exactly one boolean per purpose, so nothing
/// else rides on an event that is accepted without consent.
fn check_consent_record(event: &Map<String, Value>) -> Result<(), Refusal> {
    let exact = match event.get("properties") {
        Some(Value::Object(props)) => {
            props.len() == Purpose::ALL.len()
                && Purpose::ALL
                    .iter()
                    .all(|p| props.get(p.as_str()).is_some_and(Value::is_boolean))
        }
        _ => false,
    };
    if exact {
        Ok(())
    } else {
        let names: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        Err(Refusal::new(
            "invalid_consent_record",
            format!(
                "{CONSENT_CHANGED} properties must be exactly the booleans {}",
                names.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    fn run(v: Value) -> Result<Map<String, Value>, &'static str> {
        let mut m = v.as_object().unwrap().clone();
        super::super::validate::check(&mut m, None, 8)
            .map(|_| m)
            .map_err(|r| r.reason)
    }

    #[test]
    fn consent_shapes() {
        let granted = json!({"type": "track", "event": "x", "userId": "u",
            "context": {"purpose": "marketing", "consent": {"categoryPreferences": {"Marketing": true}}}});
        assert!(run(granted).is_ok());
        let other_purpose = json!({"type": "track", "event": "x", "userId": "u",
            "context": {"purpose": "marketing", "consent": {"analytics": true}}});
        assert_eq!(run(other_purpose), Err("consent"));
        let two_cases = json!({"type": "track", "event": "x", "anonymousId": "a",
            "context": {"consent": {"analytics": false, "Analytics": true}}});
        assert_eq!(
            run(two_cases),
            Err("consent"),
            "one refusal among the cases refuses"
        );
    }

    #[test]
    fn consent_record() {
        let record = |props: Value, purpose: &str| {
            json!({"type": "track", "event": "consent_changed", "anonymousId": "a",
                "properties": props,
                "context": {"purpose": purpose, "consent": {"analytics": false}}})
        };
        let flags = json!({"analytics": false, "personalization": true, "marketing": false});
        assert!(run(record(flags.clone(), "consent")).is_ok());
        let mut extra = flags.clone();
        extra["productId"] = json!("p1");
        assert_eq!(run(record(extra, "consent")), Err("invalid_consent_record"));
        let missing = json!({"analytics": true, "personalization": true});
        assert_eq!(
            run(record(missing, "consent")),
            Err("invalid_consent_record")
        );
        let not_bool = json!({"analytics": 1, "personalization": true, "marketing": false});
        assert_eq!(
            run(record(not_bool, "consent")),
            Err("invalid_consent_record")
        );
        assert_eq!(run(record(flags, "analytics")), Err("consent"));
        let other = json!({"type": "track", "event": "x", "anonymousId": "a",
            "context": {"purpose": "consent"}});
        assert_eq!(run(other), Err("invalid_purpose"));
    }

    #[test]
    fn hashed_paths() {
        let hash = "ab".repeat(32);
        let ok = json!({"type": "identify", "userId": hash, "traits": {"Email": hash},
            "context": {"hashed": ["userId", "traits.Email", "context.traits.phone"]}});
        assert!(run(ok).is_ok());
        for (event, why) in [
            (
                json!({"type": "identify", "userId": "alice", "context": {"hashed": ["userId"]}}),
                "raw value",
            ),
            (
                json!({"type": "identify", "userId": hash, "context": {"hashed": ["traits.name"]}}),
                "not contact",
            ),
            (
                json!({"type": "identify", "userId": hash, "context": {"hashed": ["anonymousId"]}}),
                "unknown path",
            ),
            (
                json!({"type": "identify", "userId": hash, "context": {"hashed": "userId"}}),
                "not a list",
            ),
        ] {
            assert_eq!(run(event), Err("invalid_hashed"), "{why}");
        }
    }
}
