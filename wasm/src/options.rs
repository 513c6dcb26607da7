//! `init()` options and seed-event arguments, read from the JSON the JavaScript
//! wrapper passes (one JSON parser, serde_json's, serves properties and options).

use crate::{WebError, R};
use cairn::{Config, Consent, ConsentMode, Event, Purpose, Screen};
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
    c.hash_key = str_of(o, "hashKey").unwrap_or_default().to_string();
    c.hash_identities = o
        .get("hashIdentities")
        .and_then(Value::as_bool)
        .unwrap_or(!c.hash_key.is_empty());
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

/// A seed event from its name and positional arguments (see `cairn::Event`).
pub fn seed(name: &str, a: &Value) -> R<Event> {
    let s = |i: usize| a.get(i).and_then(Value::as_str).unwrap_or_default();
    let n = |i: usize| a.get(i).and_then(Value::as_f64).unwrap_or_default();
    let u = |i: usize| n(i).max(0.0) as u64;
    Ok(match name {
        "product_viewed" => Event::product_viewed(s(0)),
        "click" => Event::click(s(0)),
        "search" => Event::search(s(0)),
        "search_result_click" => Event::search_result_click(s(0), s(1), u(2) as u32),
        "filter_applied" => Event::filter_applied(s(0), s(1)),
        "add_to_cart" => Event::add_to_cart(s(0), u(1).max(1) as u32),
        "remove_from_cart" => Event::remove_from_cart(s(0), u(1).max(1) as u32),
        "purchase" => Event::purchase(s(0), n(1), s(2)),
        "rating" => Event::rating(s(0), n(1)),
        "review" => Event::review(s(0), n(1)),
        "wishlist_add" => Event::wishlist_add(s(0)),
        "wishlist_remove" => Event::wishlist_remove(s(0)),
        "collection_add" => Event::collection_add(s(0)),
        "trade_offer" => Event::trade_offer(s(0), s(1)),
        "signup" => Event::signup(s(0)),
        "video_play" => Event::video_play(s(0)),
        "video_complete" => Event::video_complete(s(0)),
        "form_start" => Event::form_start(s(0)),
        "form_submit" => Event::form_submit(s(0)),
        "scroll_depth" => Event::scroll_depth(u(0).min(100) as u8),
        "time_on_page" => Event::time_on_page(u(0)),
        "quick_exit" => Event::quick_exit(u(0)),
        "hide_item" => Event::hide_item(s(0)),
        _ => return Err(WebError::Invalid(format!("unknown seed event \"{name}\""))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_map_to_config() {
        let (c, consent) = config(&json!({
            "writeKey": "wk", "endpoint": "http://x", "flushAt": 5, "flushInterval": 2500,
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
        assert!(consent_err());
    }

    fn consent_err() -> bool {
        consent(&json!(3)).is_err() && consent(&json!(true)).unwrap() == Consent::all()
    }

    #[test]
    fn seeds_by_name() {
        let e = seed("add_to_cart", &json!(["sku-1", 2])).unwrap();
        assert_eq!(e.name, "add_to_cart");
        assert_eq!(e.properties["quantity"], 2);
        assert_eq!(
            seed("purchase", &json!(["o1", 9.5, "EUR"]))
                .unwrap()
                .properties["total"],
            9.5
        );
        assert!(seed("nope", &json!([])).is_err());
    }
}
