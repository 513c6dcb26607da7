//! `init()` options, read from the JSON the JavaScript wrapper passes (one JSON
//! parser, serde_json's, serves properties and options).

use crate::{WebError, R};
use cairn::{Config, Consent, ConsentMode, Purpose, Screen};
use serde_json::Value;
use std::time::Duration;

fn str_of<'a>(o: &'a Value, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn num(o: &Value, k: &str) -> Option<f64> {
    o.get(k).and_then(Value::as_f64)
}

/// Builds the engine config (and the consent to apply, if given) from init options.
pub fn config(o: &Value) -> R<(Config, Option<Consent>)> {
    let write_key = str_of(o, "writeKey")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| WebError::Invalid("init: writeKey is required".into()))?;
    let endpoint = str_of(o, "endpoint")
        .ok_or_else(|| WebError::Invalid("init: endpoint is required".into()))?;
    let mut c = Config::new(write_key, endpoint);
    // sendBeacon cannot set headers: the key also travels in the body.
    c.write_key_in_body = true;
    // fetch keepalive and sendBeacon refuse bodies over 64 KiB.
    c.max_batch_bytes = 60_000;
    // Identities are hashed by default, as on mobile: a hashKey is required unless
    // hashIdentities is false explicitly.
    c.hash_key = str_of(o, "hashKey").unwrap_or_default().to_string();
    c.hash_identities = o.get("hashIdentities") != Some(&Value::Bool(false));
    if c.hash_identities && c.hash_key.is_empty() {
        return Err(WebError::Invalid(
            "init: hashKey is required (the project's hash key), or hashIdentities: false".into(),
        ));
    }
    if str_of(o, "consentMode") == Some("opt-out") {
        c.consent_mode = ConsentMode::OptOut;
    }
    let ms = |k: &str| num(o, k).map(|v| Duration::from_millis(v.max(0.0) as u64));
    if let Some(v) = num(o, "flushAt") {
        c.flush_at = v as usize;
    }
    if let Some(d) = ms("flushInterval") {
        c.flush_interval = d;
    }
    if let Some(v) = num(o, "maxQueueEvents") {
        c.max_queue_events = v as usize;
    }
    if let Some(v) = num(o, "maxQueueBytes") {
        c.max_queue_bytes = v as usize;
    }
    if let Some(d) = ms("backoffBase") {
        c.backoff_base = d;
    }
    if let Some(d) = ms("sessionTimeout") {
        c.session_timeout = d;
    }
    let ctx = &mut c.context;
    ctx.library.name = "cairn-web".into();
    if let Some(Value::Object(m)) = o.get("context") {
        for (k, v) in m {
            match (k.as_str(), v) {
                ("userAgent", Value::String(s)) => ctx.user_agent = Some(s.clone()),
                ("locale", Value::String(s)) => ctx.locale = Some(s.clone()),
                ("timezone", Value::String(s)) => ctx.timezone = Some(s.clone()),
                ("screen", s) => {
                    let dim = |k| num(s, k).map(|v| v as u32);
                    ctx.screen = Some(Screen {
                        width: dim("width"),
                        height: dim("height"),
                        density: num(s, "density"),
                    });
                }
                _ => {
                    ctx.extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let consent = match o.get("consent") {
        None | Some(Value::Null) => None,
        Some(v) => Some(consent(v)?),
    };
    Ok((c, consent))
}

/// `true` / `false` (every purpose) or `{analytics, personalization, marketing}`.
pub fn consent(v: &Value) -> R<Consent> {
    match v {
        Value::Bool(true) => Ok(Consent::all()),
        Value::Bool(false) => Ok(Consent::none()),
        Value::Object(_) => {
            let mut c = Consent::none();
            for p in Purpose::ALL {
                c.set(p, v.get(p.as_str()).and_then(Value::as_bool) == Some(true));
            }
            Ok(c)
        }
        _ => Err(WebError::Invalid(
            "consent must be true, false or {analytics, personalization, marketing}".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_map_to_config() {
        let (c, consent) = config(&json!({
            "writeKey": "wk", "endpoint": "http://x", "flushAt": 5, "flushInterval": 2500,
            "hashIdentities": false,
            "consent": {"analytics": true},
            "context": {"locale": "fr-FR", "screen": {"width": 390, "density": 3}, "page": {"path": "/"}}
        }))
        .unwrap();
        assert_eq!(c.write_key, "wk");
        assert!(c.write_key_in_body && !c.hash_identities);
        assert_eq!((c.flush_at, c.flush_interval.as_millis()), (5, 2500));
        assert_eq!(consent, Some(Consent::only(&[Purpose::Analytics])));
        assert_eq!(c.context.locale.as_deref(), Some("fr-FR"));
        assert_eq!(c.context.screen.as_ref().unwrap().width, Some(390));
        assert!(c.context.extra.contains_key("page"));
        assert!(config(&json!({"endpoint": "http://x"})).is_err());
        let hashed = config(&json!({"writeKey": "wk", "endpoint": "http://x", "hashKey": "k"}));
        let c = hashed.unwrap().0;
        assert!(c.hash_identities && c.hash_key == "k");
        for unhashed in [
            json!({}),
            json!({"hashKey": ""}),
            json!({"hashIdentities": true}),
        ] {
            let mut o = json!({"writeKey": "wk", "endpoint": "http://x"});
            o.as_object_mut()
                .unwrap()
                .extend(unhashed.as_object().unwrap().clone());
            let e = config(&o).expect_err("hashing without a hashKey is refused");
            assert!(e.to_string().contains("hashKey is required"), "{e}");
        }
        assert!(consent_err());
    }

    fn consent_err() -> bool {
        consent(&json!(3)).is_err() && consent(&json!(true)).unwrap() == Consent::all()
    }
}
