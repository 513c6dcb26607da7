//! Hand-written text formats for the few small things the core writes and reads
//! itself: RFC 3339 timestamps, the persisted records (consent, session, drop
//! counters) and the static context. They are byte-for-byte what serde derive and
//! chrono produced before (stored data from earlier versions reads back), but they
//! keep serde's typed (de)serialisers, their error texts and f64 formatting, and
//! chrono's formatter out of the web tracker's wasm (see wasm/README.md).

use crate::config::StaticContext;
use crate::consent::Consent;
use crate::error::Error;
use crate::json;
use crate::message::Dropped;
use crate::session::Session;
use serde_json::Value;

/// Appends RFC 3339 in UTC with milliseconds, e.g. `2025-11-01T12:00:00.000Z`,
/// for epoch milliseconds (years 0-9999; outside that range the year is clamped).
/// Bytes into the message being written, not a `String` (no `char` pushes).
pub fn push_rfc3339(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    let secs = (in_day / 1000) as u32;
    push_num(out, y, 4);
    out.push(b'-');
    push_num(out, m, 2);
    out.push(b'-');
    push_num(out, d, 2);
    out.push(b'T');
    push_num(out, secs / 3600, 2);
    out.push(b':');
    push_num(out, secs / 60 % 60, 2);
    out.push(b':');
    push_num(out, secs % 60, 2);
    out.push(b'.');
    push_num(out, (in_day % 1000) as u32, 3);
    out.push(b'Z');
}

/// `push_rfc3339` as a `String` (the tests' form).
#[cfg(test)]
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    let mut out = Vec::new();
    push_rfc3339(&mut out, ms);
    String::from_utf8(out).unwrap()
}

/// Zero-padded decimal of `v` in exactly `width` digits (higher digits dropped).
fn push_num(out: &mut Vec<u8>, mut v: u32, width: usize) {
    // From the last digit back (no division by a power of ten: no panic path).
    let mut buf = [0u8; 4];
    let digits = buf.get_mut(..width).unwrap_or_default();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(digits);
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01, proleptic
/// Gregorian (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Appends `bytes` in standard base64 (RFC 4648 alphabet, `=` padding): the token
/// of the Basic authorization header (the base64 crate was ~2 KB of the gzipped web tracker).
pub fn push_base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
}

// --- JSON writing ------------------------------------------------------------------

/// Appends `s` as a JSON string (quoted and escaped).
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(s.as_bytes().get(start..i).unwrap_or_default());
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(s.as_bytes().get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends an unsigned integer in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut n = 0;
    // From the last digit back; 20 places hold u64::MAX.
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(buf.len() - n..).unwrap_or_default());
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Writes the members of one JSON object, commas included.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    /// An object with its braces (`braces = false`: the members only).
    fn new(out: &'a mut Vec<u8>, braces: bool) -> Self {
        if braces {
            out.push(b'{');
        }
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        push_str(self.out, k);
        self.out.push(b':');
        self.out
    }
    fn str(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            push_str(self.key(k), v);
        }
    }
    fn u64(&mut self, k: &str, v: u64) {
        push_u64(self.key(k), v);
    }
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k)
            .extend_from_slice(if v { b"true" } else { b"false" });
    }
    /// Opens a nested object under `k`; close it with `end`.
    fn nested(&mut self, k: &str) -> Obj<'_> {
        Obj::new(self.key(k), true)
    }
    fn end(self) {
        self.out.push(b'}');
    }
}

/// `{"analytics":bool,"personalization":bool,"marketing":bool}`.
pub fn write_consent(out: &mut Vec<u8>, c: &Consent) {
    let mut o = Obj::new(out, true);
    o.bool("analytics", c.analytics);
    o.bool("personalization", c.personalization);
    o.bool("marketing", c.marketing);
    o.end();
}

/// `{"overflow":n,"expired":n,"rejected":n,"too_large":n}`.
pub fn write_dropped(out: &mut Vec<u8>, d: &Dropped) {
    let mut o = Obj::new(out, true);
    o.u64("overflow", d.overflow);
    o.u64("expired", d.expired);
    o.u64("rejected", d.rejected);
    o.u64("too_large", d.too_large);
    o.end();
}

/// `{"id":"...","last_activity":ms}`.
pub fn write_session(out: &mut Vec<u8>, s: &Session) {
    out.extend_from_slice(b"{\"id\":");
    push_str(out, &s.id);
    out.extend_from_slice(b",\"last_activity\":");
    push_i64(out, s.last_activity);
    out.push(b'}');
}

/// The static context's members without the braces (what `Engine` splices into
/// every message's `context`), in the order serde derive wrote them.
pub fn static_fields(c: &StaticContext) -> Result<String, Error> {
    let mut out = Vec::with_capacity(128);
    let mut o = Obj::new(&mut out, false);
    let mut lib = o.nested("library");
    push_str(lib.key("name"), &c.library.name);
    push_str(lib.key("version"), &c.library.version);
    lib.end();
    if let Some(a) = &c.app {
        let mut n = o.nested("app");
        n.str("name", &a.name);
        n.str("version", &a.version);
        n.str("build", &a.build);
        n.str("namespace", &a.namespace);
        n.end();
    }
    if let Some(d) = &c.device {
        let mut n = o.nested("device");
        n.str("type", &d.kind);
        n.str("manufacturer", &d.manufacturer);
        n.str("model", &d.model);
        n.end();
    }
    if let Some(s) = &c.os {
        let mut n = o.nested("os");
        n.str("name", &s.name);
        n.str("version", &s.version);
        n.end();
    }
    if let Some(s) = &c.screen {
        let mut n = o.nested("screen");
        if let Some(w) = s.width {
            n.u64("width", w.into());
        }
        if let Some(h) = s.height {
            n.u64("height", h.into());
        }
        if let Some(d) = s.density {
            serde_json::to_writer(n.key("density"), &Value::from(d))?;
        }
        n.end();
    }
    o.str("locale", &c.locale);
    o.str("timezone", &c.timezone);
    o.str("userAgent", &c.user_agent);
    // Already JSON members (`Engine::new` checks the whole text).
    if !c.extra.is_empty() {
        o.out.push(b',');
        o.out.extend_from_slice(c.extra.as_bytes());
    }
    // Only valid UTF-8 went in.
    String::from_utf8(out).map_err(|e| Error::Corrupt(e.to_string()))
}

// --- Reading the persisted records ---------------------------------------------------
//
// A record that does not read is `None`, not an `Error`: the engine's one rule for
// it (a damaged record falls back to a safe value, see `Engine::with_static_fields`)
// needs no reason, and error texts nobody reads would only weigh on the web
// tracker's wasm.

/// The members of a stored record (a JSON object), or `None`.
fn object(bytes: &[u8]) -> Option<Vec<(&str, &str)>> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    // One valid JSON object with JSON whitespace around it (what `json::object`
    // accepts, less its "" and "null" for `{}`: a record must be an object).
    let t = json::trim_ws(text, true);
    (t.starts_with("{") && json::valid(t)).then(|| json::members(t))
}

/// The value of member `k`, the last one wins (as with serde_json's map).
fn member<'a>(m: &[(&'a str, &'a str)], k: &str) -> Option<&'a str> {
    m.iter()
        .rev()
        .find(|(key, _)| json::unescape(key).as_deref() == Some(k))
        .map(|(_, v)| *v)
}

fn as_bool(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub fn read_consent(bytes: &[u8]) -> Option<Consent> {
    let m = object(bytes)?;
    let b = |k| member(&m, k).and_then(as_bool);
    Some(Consent {
        analytics: b("analytics")?,
        personalization: b("personalization")?,
        marketing: b("marketing")?,
    })
}

pub fn read_dropped(bytes: &[u8]) -> Option<Dropped> {
    let m = object(bytes)?;
    let n = |k| member(&m, k).and_then(json::as_u64);
    Some(Dropped {
        overflow: n("overflow")?,
        expired: n("expired")?,
        rejected: n("rejected")?,
        too_large: n("too_large")?,
    })
}

pub fn read_session(bytes: &[u8]) -> Option<Session> {
    let m = object(bytes)?;
    Some(Session {
        id: member(&m, "id").and_then(json::unescape)?,
        last_activity: member(&m, "last_activity").and_then(json::as_i64)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{App, Device, Os, Screen};
    use chrono::{DateTime, SecondsFormat};

    fn chrono_rfc3339(ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_762_000_000_123),
            "2025-11-01T12:26:40.123Z"
        );
        assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z"); // leap (÷400)
        assert_eq!(
            rfc3339_millis(1_709_164_799_999),
            "2024-02-28T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_millis(1_709_164_800_000),
            "2024-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(4_107_542_400_000),
            "2100-03-01T00:00:00.000Z"
        ); // not leap (÷100)
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            rfc3339_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_millis(-62_167_219_200_000),
            "0000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn rfc3339_agrees_with_chrono() {
        // Every day from 1900 to 2200 at a varying time of day, plus millis edges.
        let mut ms = -2_208_988_800_000i64;
        let mut i = 0i64;
        while ms < 7_258_118_400_000 {
            let t = ms + (i * 37_123_457) % 86_400_000;
            assert_eq!(rfc3339_millis(t), chrono_rfc3339(t), "at {t}");
            ms += 86_400_000;
            i += 1;
        }
        for t in [999, 1000, 59_999, 3_599_999, 86_399_999] {
            assert_eq!(rfc3339_millis(t), chrono_rfc3339(t));
        }
    }

    #[test]
    fn base64_matches_the_base64_crate() {
        use base64::Engine as _;
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..=all.len() {
            let mut s = String::from("Basic ");
            push_base64(&mut s, &all[..len]);
            let want = base64::engine::general_purpose::STANDARD.encode(&all[..len]);
            assert_eq!(s, format!("Basic {want}"), "len {len}");
        }
        let mut s = String::new();
        push_base64(&mut s, "demo-key:".as_bytes());
        assert_eq!(s, "ZGVtby1rZXk6");
    }

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "",
            "plain",
            "q\"b\\s",
            "nl\ncr\rtab\t",
            "\u{1}\u{8}\u{c}\u{1f}",
            "é☃🎉",
        ] {
            let mut out = Vec::new();
            push_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        let mut out = Vec::new();
        push_u64(&mut out, u64::MAX);
        push_i64(&mut out, -42);
        push_u64(&mut out, 0);
        assert_eq!(out, b"18446744073709551615-420");
    }

    #[test]
    fn records_round_trip_in_the_serde_format() {
        let c = Consent {
            analytics: true,
            personalization: false,
            marketing: true,
        };
        let mut out = Vec::new();
        write_consent(&mut out, &c);
        assert_eq!(out, serde_json::to_vec(&c).unwrap());
        assert_eq!(read_consent(&out).unwrap(), c);

        let d = Dropped {
            overflow: 1,
            expired: 2,
            rejected: 3,
            too_large: u64::MAX,
        };
        let mut out = Vec::new();
        write_dropped(&mut out, &d);
        assert_eq!(out, serde_json::to_vec(&d).unwrap());
        assert_eq!(read_dropped(&out).unwrap(), d);

        for last_activity in [0, 1_762_000_000_123, -5] {
            let s = Session::new(
                "01900000-0000-7000-8000-00000000000\"".into(),
                last_activity,
            );
            let mut out = Vec::new();
            write_session(&mut out, &s);
            assert_eq!(out, serde_json::to_vec(&s).unwrap());
            assert_eq!(read_session(&out).unwrap(), s);
        }
        // Written by earlier versions (serde derive), extra fields ignored.
        assert_eq!(
            read_session(br#"{ "last_activity": 7, "id": "s", "x": [] }"#).unwrap(),
            Session::new("s".into(), 7)
        );
    }

    #[test]
    fn malformed_records_do_not_read() {
        let bad: &[&[u8]] = &[
            b"",
            b"nope",
            b"[]",
            b"{",
            b"{}",
            b"\xff\xfe",
            br#"{"analytics":1,"personalization":false,"marketing":true}"#,
            br#"{"analytics":true,"personalization":false}"#,
        ];
        for b in bad {
            assert_eq!(read_consent(b), None, "{b:?}");
            assert_eq!(read_session(b), None, "{b:?}");
            assert_eq!(read_dropped(b), None, "{b:?}");
        }
        assert_eq!(read_session(br#"{"id":3,"last_activity":1}"#), None);
        assert_eq!(read_session(br#"{"id":"s","last_activity":1.5}"#), None);
        assert_eq!(
            read_dropped(br#"{"overflow":-1,"expired":0,"rejected":0,"too_large":0}"#),
            None
        );
    }

    #[test]
    fn static_context_matches_serde_derive() {
        let mut c = StaticContext::default();
        let fields = |c: &StaticContext| {
            // serde derive writes the typed fields; `extra` follows as written.
            let full = serde_json::to_string(c).unwrap();
            let mut derived = full[1..full.len() - 1].to_string();
            if !c.extra.is_empty() {
                derived.push(',');
                derived.push_str(&c.extra);
            }
            (static_fields(c).unwrap(), derived)
        };
        let (a, b) = fields(&c);
        assert_eq!(a, b);
        c.app = Some(App {
            name: Some("Shop \"x\"".into()),
            version: None,
            build: Some("7".into()),
            namespace: None,
        });
        c.device = Some(Device {
            kind: Some("mobile".into()),
            ..Device::default()
        });
        c.os = Some(Os {
            name: Some("Android".into()),
            version: Some("15".into()),
        });
        c.screen = Some(Screen {
            width: Some(390),
            height: None,
            density: Some(2.75),
        });
        c.locale = Some("fr-FR".into());
        c.timezone = Some("Europe/Paris".into());
        c.user_agent = Some("UA/1.0".into());
        c.extra = r#""referrer":{"url":"https://x/"},"n":1.5"#.into();
        let (a, b) = fields(&c);
        assert_eq!(a, b);
        c.screen = Some(Screen::default());
        c.app = Some(App::default());
        let (a, b) = fields(&c);
        assert_eq!(a, b);
    }
}
