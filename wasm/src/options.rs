//! `init()` options. cairn.js reads the options object and passes its parts as
//! plain arguments (strings, numbers, bit sets) and the static context as JSON
//! members it wrote with `JSON.stringify`: the wasm parses no JSON.

use crate::{WebError, R};
use cairn::{Config, Consent, ConsentMode, Purpose};
use std::time::Duration;

/// `flags` bits of `start`.
pub const HASH_IDENTITIES: u32 = 1;
pub const OPT_OUT: u32 = 2;

/// Positions in `start`'s numbers (NaN: not given).
const FLUSH_AT: usize = 0;
const FLUSH_INTERVAL: usize = 1;
const MAX_QUEUE_EVENTS: usize = 2;
const MAX_QUEUE_BYTES: usize = 3;
const BACKOFF_BASE: usize = 4;
const SESSION_TIMEOUT: usize = 5;

/// Builds the engine config from init options.
pub fn config(
    write_key: &str,
    endpoint: &str,
    hash_key: &str,
    nums: &[f64],
    flags: u32,
) -> R<Config> {
    if write_key.is_empty() {
        return Err(WebError::Invalid("init: writeKey is required".into()));
    }
    let mut c = Config::new(write_key, endpoint);
    // sendBeacon cannot set headers: the key also travels in the body.
    c.write_key_in_body = true;
    // fetch keepalive and sendBeacon refuse bodies over 64 KiB.
    c.max_batch_bytes = cairn_protocol::limits::MAX_BROWSER_BATCH_BYTES;
    // A page's events reach the collector about a second after they happen (seed
    // 001: personalisation within 5 s of an interaction), where apps batch for 10 s:
    // a page may close at any time, and a click should change what it recommends.
    c.flush_interval = Duration::from_secs(1);
    // Identities are hashed by default, as on mobile: a hashKey is required unless
    // hashIdentities is false explicitly.
    c.hash_key = hash_key.into();
    c.hash_identities = flags & HASH_IDENTITIES != 0;
    if c.hash_identities && c.hash_key.is_empty() {
        return Err(WebError::Invalid(
            "init: hashKey is required (the project's hash key), or hashIdentities: false".into(),
        ));
    }
    if flags & OPT_OUT != 0 {
        c.consent_mode = ConsentMode::OptOut;
    }
    let num = |i: usize| nums.get(i).copied().filter(|v| !v.is_nan());
    let ms = |i| num(i).map(|v| Duration::from_millis(v.max(0.0) as u64));
    if let Some(v) = num(FLUSH_AT) {
        c.flush_at = v as usize;
    }
    if let Some(d) = ms(FLUSH_INTERVAL) {
        c.flush_interval = d;
    }
    if let Some(v) = num(MAX_QUEUE_EVENTS) {
        c.max_queue_events = v as usize;
    }
    if let Some(v) = num(MAX_QUEUE_BYTES) {
        c.max_queue_bytes = v as usize;
    }
    if let Some(d) = ms(BACKOFF_BASE) {
        c.backoff_base = d;
    }
    if let Some(d) = ms(SESSION_TIMEOUT) {
        c.session_timeout = d;
    }
    c.context.library.name = "cairn-web".into();
    Ok(c)
}

/// The static context's members: the library, then what cairn.js wrote (user
/// agent, locale, timezone, screen, device, os, the page's `context` option).
pub fn static_fields(c: &Config, members: &str) -> String {
    let lib = &c.context.library;
    let mut out = Vec::with_capacity(64 + members.len());
    out.extend_from_slice(b"\"library\":{\"name\":\"");
    out.extend_from_slice(lib.name.as_bytes());
    out.extend_from_slice(b"\",\"version\":\"");
    out.extend_from_slice(lib.version.as_bytes());
    out.extend_from_slice(b"\"}");
    if !members.is_empty() {
        out.push(b',');
        out.extend_from_slice(members.as_bytes());
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Consent as a bit set: bit `Purpose::index` set = granted.
pub fn consent(bits: u8) -> Consent {
    // The fields one by one, not a loop over `Purpose::ALL` calling `set`: less code.
    let on = |p: Purpose| bits & (1 << p.index()) != 0;
    Consent {
        analytics: on(Purpose::Analytics),
        personalization: on(Purpose::Personalization),
        marketing: on(Purpose::Marketing),
    }
}

/// The bit set of `consent`.
pub fn bits(c: Consent) -> u8 {
    let bit = |on: bool, p: Purpose| u8::from(on) << p.index();
    bit(c.analytics, Purpose::Analytics)
        | bit(c.personalization, Purpose::Personalization)
        | bit(c.marketing, Purpose::Marketing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_map_to_config() {
        let nums = [5.0, 2500.0, f64::NAN, f64::NAN, f64::NAN, f64::NAN];
        let c = config("wk", "http://x", "", &nums, 0).unwrap();
        assert_eq!(c.write_key, "wk");
        assert!(c.write_key_in_body && !c.hash_identities);
        assert_eq!((c.flush_at, c.flush_interval.as_millis()), (5, 2500));
        assert_eq!(c.max_queue_events, Config::default().max_queue_events);
        assert!(config("", "http://x", "k", &[], HASH_IDENTITIES).is_err());
        let c = config("wk", "http://x", "k", &[], HASH_IDENTITIES | OPT_OUT).unwrap();
        assert!(c.hash_identities && c.hash_key == "k");
        assert_eq!(c.consent_mode, ConsentMode::OptOut);
        let e = config("wk", "http://x", "", &[], HASH_IDENTITIES).expect_err("no hashKey");
        assert!(e.to_string().contains("hashKey is required"), "{e}");
        let f = static_fields(&c, r#""locale":"fr-FR""#);
        let v: serde_json::Value = serde_json::from_str(&["{", &f, "}"].concat()).unwrap();
        assert_eq!(v["library"]["name"], "cairn-web");
        assert_eq!(v["locale"], "fr-FR");
        for b in 0..8 {
            assert_eq!(bits(consent(b)), b);
        }
        for p in Purpose::ALL {
            assert_eq!(consent(1 << p.index()), Consent::only(&[p]));
        }
    }
}
