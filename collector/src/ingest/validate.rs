//! Per-event rules. Each failure names one stable reason code, so a client can tell
//! exactly which of its events was refused and why, while the rest of its batch is kept.

use cairn_protocol::{
    identity::contact_trait,
    limits::{MAX_ID_CHARS, MAX_MESSAGE_ID_BYTES},
    Kind,
};
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::context::{check_consent, check_hashed};

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
        // Ids from JavaScript are exact only up to 2^53; larger numbers (and fractions)
        // would collide once rounded, so they must come as strings.
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= MAX_SAFE_INTEGER) => {
            Some(Value::String(n.to_string()))
        }
        Some(Value::Number(n))
            if n.as_i64()
                .is_some_and(|v| v.unsigned_abs() <= MAX_SAFE_INTEGER) =>
        {
            Some(Value::String(n.to_string()))
        }
        Some(Value::Number(_)) => {
            return Err(Refusal::new(
                "invalid_id",
                format!(
                    "{field} is a number that is not an integer within ±2^53; send it as a string"
                ),
            ))
        }
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

/// Largest integer every JSON client holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// RFC 3339 only: a four-digit year (chrono also reads `+10000-01-01T...`, which is not
/// RFC 3339 and which downstream readers would refuse).
pub fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    let year = text.as_bytes().get(..5)?;
    if !(year[..4].iter().all(u8::is_ascii_digit) && year[4] == b'-') {
        return None;
    }
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
                json!({"type": "track", "event": "x", "userId": "u", "timestamp": "+10000-01-01T00:00:00Z"}),
                "invalid_timestamp",
            ),
            (
                json!({"type": "track", "event": "x", "userId": 9007199254740993_u64}),
                "invalid_id",
            ),
            (
                json!({"type": "track", "event": "x", "userId": 1.5}),
                "invalid_id",
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
    fn numeric_ids_become_strings() {
        let m = run(json!({"type": "identify", "userId": 42})).unwrap();
        assert_eq!(m["userId"], "42");
    }
}
