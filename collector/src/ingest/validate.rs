//! Per-event rules. Each failure names one stable reason code, so a client can tell
//! exactly which of its events was refused and why, while the rest of its batch is kept.

use cairn_protocol::{
    events::CONSENT_CHANGED,
    field::{CONSENT, CONSENT_RECORD_PURPOSE, HASHED, PURPOSE},
    identity::{contact_trait, CONTEXT_TRAITS_PREFIX, PREVIOUS_ID, TRAITS_PREFIX, USER_ID},
    limits::{MAX_ID_CHARS, MAX_MESSAGE_ID_BYTES},
    Kind, Purpose,
};
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::privacy::is_device_hash;

/// Why one event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

const OBJECT_FIELDS: [&str; 4] = ["properties", "traits", "context", "integrations"];
const TIME_FIELDS: [&str; 3] = ["timestamp", "sentAt", "originalTimestamp"];
/// The purpose of an event that names none.
const DEFAULT_PURPOSE: Purpose = Purpose::Analytics;

/// Checks one event and normalises what Segment allows in two shapes (numeric ids).
/// `endpoint` is the kind a single-event endpoint sets (`None`: /v1/batch). On success
/// the event has a valid `type`, which is returned.
pub fn check(
    event: &mut Map<String, Value>,
    endpoint: Option<Kind>,
    max_depth: usize,
) -> Result<Kind, Refusal> {
    if depth(event) > max_depth {
        return Err(Refusal::new(
            "too_deep",
            format!("event nests deeper than {max_depth} levels"),
        ));
    }
    let kind = check_type(event, endpoint)?;
    if let Some(id) = event.get("messageId") {
        match id {
            Value::String(s) if !s.is_empty() && s.len() <= MAX_MESSAGE_ID_BYTES => {}
            _ => {
                return Err(Refusal::new(
                    "invalid_message_id",
                    format!(
                    "messageId must be a non-empty string of at most {MAX_MESSAGE_ID_BYTES} bytes"
                ),
                ))
            }
        }
    }
    for field in ["userId", "anonymousId", "previousId", "groupId"] {
        normalise_id(event, field)?;
    }
    if !event.contains_key("userId") && !event.contains_key("anonymousId") {
        return Err(Refusal::new(
            "missing_id",
            "one of userId or anonymousId is required",
        ));
    }
    match kind {
        Kind::Track => match event.get("event") {
            Some(Value::String(name))
                if !name.trim().is_empty() && name.chars().count() <= MAX_ID_CHARS => {}
            _ => {
                return Err(Refusal::new(
                    "missing_event",
                    "track needs a non-empty event name",
                ))
            }
        },
        Kind::Alias if !event.contains_key("previousId") || !event.contains_key("userId") => {
            return Err(Refusal::new(
                "missing_previous_id",
                "alias needs previousId and userId",
            ));
        }
        Kind::Group if !event.contains_key("groupId") => {
            return Err(Refusal::new("missing_group_id", "group needs a groupId"));
        }
        _ => {}
    }
    if let Some(Value::String(_)) | None = event.get("name") {
    } else {
        return Err(Refusal::new("invalid_field", "name must be a string"));
    }
    for field in OBJECT_FIELDS {
        match event.get(field) {
            None | Some(Value::Object(_)) | Some(Value::Null) => {}
            Some(_) => {
                return Err(Refusal::new(
                    "invalid_field",
                    format!("{field} must be an object"),
                ))
            }
        }
    }
    check_contact_traits(event)?;
    for field in TIME_FIELDS {
        if let Some(value) = event.get(field) {
            if value.as_str().and_then(parse_time).is_none() {
                return Err(Refusal::new(
                    "invalid_timestamp",
                    format!("{field} must be an RFC 3339 / ISO 8601 date-time string"),
                ));
            }
        }
    }
    check_hashed(event)?;
    check_consent(event, kind)?;
    Ok(kind)
}

/// `context.hashed` lists the identifiers the SDK hashed under the project hash key:
/// `userId`, `previousId`, `traits.<key>` or `context.traits.<key>` of a contact trait
/// (as the key is sent). Each listed field that is present must be a device hash
/// (64 lower-case hex digits).
fn check_hashed(event: &Map<String, Value>) -> Result<(), Refusal> {
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

fn context_field<'a>(event: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    event.get("context")?.as_object()?.get(name)
}

/// E-mail and phone traits must be something pseudonymisation can hash: a string or a
/// number (or null).
fn check_contact_traits(event: &Map<String, Value>) -> Result<(), Refusal> {
    let context_traits = match event.get("context") {
        Some(Value::Object(context)) => context.get("traits"),
        _ => None,
    };
    for traits in [event.get("traits"), context_traits].into_iter().flatten() {
        let Value::Object(traits) = traits else {
            continue;
        };
        for (key, value) in traits {
            let hashable = matches!(value, Value::String(_) | Value::Number(_) | Value::Null);
            if contact_trait(key).is_some() && !hashable {
                return Err(Refusal::new(
                    "invalid_field",
                    format!("traits.{key} must be a string or a number"),
                ));
            }
        }
    }
    Ok(())
}

fn check_type(event: &mut Map<String, Value>, endpoint: Option<Kind>) -> Result<Kind, Refusal> {
    if let Some(forced) = endpoint {
        event.insert("type".into(), Value::String(forced.as_str().into()));
        return Ok(forced);
    }
    match event.get("type") {
        None => Err(Refusal::new("missing_type", "type is required")),
        Some(Value::String(t)) if Kind::parse(t).is_some() => Ok(Kind::parse(t).unwrap()),
        Some(other) => {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            Err(Refusal::new(
                "invalid_type",
                format!("type {} is not one of {}", other, kinds.join(", ")),
            ))
        }
    }
}

/// Ids may be strings or numbers; numbers become strings. Empty or null counts as absent.
fn normalise_id(event: &mut Map<String, Value>, field: &'static str) -> Result<(), Refusal> {
    let normalised = match event.get(field) {
        None => return Ok(()),
        Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_ID_CHARS => return Ok(()),
        Some(Value::Number(n)) => Some(Value::String(n.to_string())),
        Some(Value::String(_)) => {
            return Err(Refusal::new(
                "invalid_id",
                format!("{field} is longer than {MAX_ID_CHARS} characters"),
            ))
        }
        Some(_) => {
            return Err(Refusal::new(
                "invalid_id",
                format!("{field} must be a string or a number"),
            ))
        }
    };
    match normalised {
        Some(v) => event.insert(field.into(), v),
        None => event.remove(field),
    };
    Ok(())
}

/// The consent record (`consent_changed` with purpose `consent`) needs no purpose and
/// carries exactly the three purpose flags. Any other event whose `context.consent` is
/// present must be granted its purpose (`context.purpose`, default analytics); the
/// purpose `consent` belongs to the consent record alone. Accepts Cairn's
/// `{purpose: bool}` and Segment's `{categoryPreferences: {Purpose: bool}}`.
fn check_consent(event: &Map<String, Value>, kind: Kind) -> Result<(), Refusal> {
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
    let granted = grants
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(purpose))
        .is_some_and(|(_, v)| v.as_bool() == Some(true));
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

pub fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

/// Nesting depth of objects and arrays; the event itself is depth 1.
fn depth(event: &Map<String, Value>) -> usize {
    let mut deepest = 1;
    let mut stack: Vec<(&Value, usize)> = event.values().map(|v| (v, 2)).collect();
    while let Some((value, level)) = stack.pop() {
        match value {
            Value::Object(m) => {
                deepest = deepest.max(level);
                stack.extend(m.values().map(|v| (v, level + 1)));
            }
            Value::Array(a) => {
                deepest = deepest.max(level);
                stack.extend(a.iter().map(|v| (v, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<Map<String, Value>, &'static str> {
        let mut m = v.as_object().unwrap().clone();
        check(&mut m, None, 8).map(|_| m).map_err(|r| r.reason)
    }

    #[test]
    fn reasons() {
        let ok = json!({"type": "track", "event": "x", "anonymousId": "a"});
        assert!(run(ok.clone()).is_ok());
        let cases = [
            (json!({"event": "x", "anonymousId": "a"}), "missing_type"),
            (json!({"type": "boom", "anonymousId": "a"}), "invalid_type"),
            (json!({"type": "track", "event": "x"}), "missing_id"),
            (
                json!({"type": "track", "event": "", "userId": "u"}),
                "missing_event",
            ),
            (
                json!({"type": "track", "event": "x", "userId": true}),
                "invalid_id",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "properties": [1]}),
                "invalid_field",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}),
                "invalid_timestamp",
            ),
            (
                json!({"type": "alias", "userId": "u"}),
                "missing_previous_id",
            ),
            (json!({"type": "group", "userId": "u"}), "missing_group_id"),
            (
                json!({"type": "track", "event": "x", "userId": "u", "messageId": 5}),
                "invalid_message_id",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "properties": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}),
                "too_deep",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "context": {"consent": {"analytics": false}}}),
                "consent",
            ),
        ];
        for (event, reason) in cases {
            assert_eq!(run(event.clone()), Err(reason), "{event}");
        }
    }

    #[test]
    fn consent_shapes() {
        let granted = json!({"type": "track", "event": "x", "userId": "u",
            "context": {"purpose": "marketing", "consent": {"categoryPreferences": {"Marketing": true}}}});
        assert!(run(granted).is_ok());
        let other_purpose = json!({"type": "track", "event": "x", "userId": "u",
            "context": {"purpose": "marketing", "consent": {"analytics": true}}});
        assert_eq!(run(other_purpose), Err("consent"));
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

    #[test]
    fn numeric_ids_become_strings() {
        let m = run(json!({"type": "identify", "userId": 42})).unwrap();
        assert_eq!(m["userId"], "42");
    }
}
