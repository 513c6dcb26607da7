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

/// How a seed event's positional argument becomes a property (what the typed
/// constructors of `cairn::Event` take: `&str`, `f64`, `u32`, `u64`...).
#[derive(Clone, Copy)]
enum Arg {
    /// A string (missing or not a string: "").
    Str,
    /// A number (missing: 0).
    F64,
    /// A whole number >= 0 (`as u64`).
    U64,
    /// A `u32` (`as u32`).
    U32,
    /// A quantity: a `u32`, at least 1.
    Qty,
    /// A percentage: 0-100.
    Pct,
}

use Arg::*;

/// The seed events by name with their properties, in the order of the arguments
/// of `cairn::Event`'s constructors (a test checks every one against them). One
/// table instead of one call per helper keeps the wasm small.
const SEEDS: &[(&str, &[(&str, Arg)])] = &[
    ("product_viewed", &[("product_id", Str)]),
    ("click", &[("target", Str)]),
    ("search", &[("query", Str)]),
    (
        "search_result_click",
        &[("query", Str), ("product_id", Str), ("position", U32)],
    ),
    ("filter_applied", &[("filter", Str), ("value", Str)]),
    ("add_to_cart", &[("product_id", Str), ("quantity", Qty)]),
    (
        "remove_from_cart",
        &[("product_id", Str), ("quantity", Qty)],
    ),
    (
        "purchase",
        &[("order_id", Str), ("total", F64), ("currency", Str)],
    ),
    ("rating", &[("product_id", Str), ("rating", F64)]),
    ("review", &[("product_id", Str), ("rating", F64)]),
    ("wishlist_add", &[("product_id", Str)]),
    ("wishlist_remove", &[("product_id", Str)]),
    ("collection_add", &[("product_id", Str)]),
    ("trade_offer", &[("product_id", Str), ("offer_id", Str)]),
    ("signup", &[("method", Str)]),
    ("video_play", &[("video_id", Str)]),
    ("video_complete", &[("video_id", Str)]),
    ("form_start", &[("form_id", Str)]),
    ("form_submit", &[("form_id", Str)]),
    ("scroll_depth", &[("percent", Pct)]),
    ("time_on_page", &[("duration_ms", U64)]),
    ("quick_exit", &[("dwell_ms", U64)]),
    ("hide_item", &[("product_id", Str)]),
];

/// A seed event from its name and positional arguments (see `cairn::Event`).
pub fn seed(name: &str, a: &Value) -> R<Event> {
    let Some((_, fields)) = SEEDS.iter().find(|(n, _)| *n == name) else {
        return Err(WebError::Invalid(format!("unknown seed event \"{name}\"")));
    };
    let mut props = serde_json::Map::new();
    for (i, (key, arg)) in fields.iter().enumerate() {
        let v = a.get(i);
        let n = v.and_then(Value::as_f64).unwrap_or_default();
        let u = n.max(0.0) as u64;
        let value = match arg {
            Str => Value::from(v.and_then(Value::as_str).unwrap_or_default()),
            F64 => Value::from(n),
            U64 => Value::from(u),
            U32 => Value::from(u as u32),
            Qty => Value::from(u.max(1) as u32),
            Pct => Value::from(u.min(100) as u8),
        };
        props.insert((*key).to_string(), value);
    }
    Ok(Event::track(name, Value::Object(props))?)
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

    #[test]
    fn every_seed_matches_the_core_constructor() {
        let a = json!(["a", "b", 7.9, "c"]);
        let n = json!([3.5]);
        let cases = [
            ("product_viewed", &a, Event::product_viewed("a")),
            ("click", &a, Event::click("a")),
            ("search", &a, Event::search("a")),
            (
                "search_result_click",
                &a,
                Event::search_result_click("a", "b", 7),
            ),
            ("filter_applied", &a, Event::filter_applied("a", "b")),
            ("add_to_cart", &a, Event::add_to_cart("a", 1)),
            (
                "add_to_cart",
                &json!(["a", 2.7]),
                Event::add_to_cart("a", 2),
            ),
            ("add_to_cart", &json!(["a", -3]), Event::add_to_cart("a", 1)),
            (
                "remove_from_cart",
                &json!(["a", 5]),
                Event::remove_from_cart("a", 5),
            ),
            (
                "purchase",
                &json!(["o", 9.5, "EUR"]),
                Event::purchase("o", 9.5, "EUR"),
            ),
            ("purchase", &json!([]), Event::purchase("", 0.0, "")),
            ("rating", &json!(["p", 4.5]), Event::rating("p", 4.5)),
            ("review", &json!(["p", 2]), Event::review("p", 2.0)),
            ("wishlist_add", &a, Event::wishlist_add("a")),
            ("wishlist_remove", &a, Event::wishlist_remove("a")),
            ("collection_add", &a, Event::collection_add("a")),
            ("trade_offer", &a, Event::trade_offer("a", "b")),
            ("signup", &a, Event::signup("a")),
            ("video_play", &a, Event::video_play("a")),
            ("video_complete", &a, Event::video_complete("a")),
            ("form_start", &a, Event::form_start("a")),
            ("form_submit", &a, Event::form_submit("a")),
            ("scroll_depth", &n, Event::scroll_depth(3)),
            ("scroll_depth", &json!([140]), Event::scroll_depth(140)),
            ("scroll_depth", &json!([-1]), Event::scroll_depth(0)),
            ("time_on_page", &n, Event::time_on_page(3)),
            (
                "quick_exit",
                &json!([1e12]),
                Event::quick_exit(1_000_000_000_000),
            ),
            ("hide_item", &json!([1]), Event::hide_item("")),
        ];
        for (name, args, want) in &cases {
            assert_eq!(&seed(name, args).unwrap(), want, "{name} {args}");
        }
        let names: Vec<&str> = SEEDS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 23);
        for name in names {
            assert!(cases.iter().any(|(n, ..)| *n == name), "{name} untested");
        }
    }
}
