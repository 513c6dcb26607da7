//! Foreign arguments made safe for the core: Kotlin, Swift and Python have signed
//! `Int` / `Long`, and properties and traits arrive as JSON text, so every count,
//! duration, byte size and JSON object is checked here, with an
//! [`CairnError::InvalidArgument`] (or a JSON error) instead of a wrap-around.

use crate::error::CairnError;
use serde_json::{Map, Value};
use std::time::Duration;

/// A non-negative duration in milliseconds from a foreign `Long`.
pub(crate) fn millis(what: &str, v: i64) -> Result<Duration, CairnError> {
    u64::try_from(v)
        .map(Duration::from_millis)
        .map_err(|_| CairnError::InvalidArgument(format!("{what} is {v} ms, below 0")))
}

/// A non-negative byte count from a foreign `Long`.
pub(crate) fn bytes(what: &str, v: i64) -> Result<u64, CairnError> {
    u64::try_from(v).map_err(|_| CairnError::InvalidArgument(format!("{what} is {v}, below 0")))
}

/// Parses an optional JSON object argument (null, "" and "{}" mean none).
pub(crate) fn parse_object(
    what: &'static str,
    json: Option<String>,
) -> Result<Map<String, Value>, CairnError> {
    let Some(text) = json else {
        return Ok(Map::new());
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(CairnError::NotAnObject(what)),
        Err(e) => Err(CairnError::InvalidJson {
            what,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse() {
        assert!(parse_object("properties", None).unwrap().is_empty());
        assert!(parse_object("properties", Some(" ".into()))
            .unwrap()
            .is_empty());
        assert_eq!(
            parse_object("properties", Some(r#"{"a":1}"#.into())).unwrap()["a"],
            1
        );
        let e = parse_object("traits", Some("[1]".into())).unwrap_err();
        assert_eq!(e.to_string(), "traits must be a JSON object");
        let e = parse_object("properties", Some("{".into())).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid JSON in properties"),
            "{e}"
        );
    }
}
