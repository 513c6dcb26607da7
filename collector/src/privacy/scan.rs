//! PII anywhere in an event, beyond the four pseudonymised fields. Every string value
//! (properties, traits at any depth, context, page names and URLs, search strings) is
//! scanned, and what is found is replaced by the same pseudonym a contact trait gets:
//! - an e-mail address (also URL-encoded, `%40`) inside any string;
//! - a phone number inside any string: 9 to 15 digits with spaces, dots, dashes or
//!   brackets, starting with `+`, `(` or a digit at the start of the string or after a
//!   space or one of `=:;,"'<[{&?`, and not followed by a letter or digit (so ids, UUIDs,
//!   dates and prices are left alone);
//! - the whole value (string or number) of any key whose letters contain `email`,
//!   `e-mail` or `phone` (`emailAddress`, `phoneNumber`, `E-Mail`), at any depth;
//! - the whole value of a configured key (`--pii-pseudonymise-keys`), or the key dropped
//!   (`--pii-drop-keys`, `context.ip` by default). A rule with a dot is a path from the
//!   event's root, one without a key name at any depth, both case-insensitive.
//!
//! Snowplow's PII enrichment pseudonymises only the fields it is configured with; this
//! needs no configuration for e-mails and phones, wherever they are. Values that are a
//! pseudonym already (64 hex digits) and the fields the collector sets or keys on
//! (`messageId`, `type`, times, `anonymousId`, `userId`, `previousId`, `context.hashed`)
//! are not scanned.

use cairn_protocol::identity::{hex, normalize_email, normalize_phone, ProjectHasher};
use serde_json::{Map, Value};

use super::{is_device_hash, Pseudonymiser};

/// Top-level fields the scan leaves as they are.
const KEPT: &[&str] = &[
    "messageId",
    "type",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "anonymousId",
    "userId",
    "previousId",
];

/// The configured key rules.
#[derive(Debug, Clone, Default)]
pub struct PiiRules {
    pub pseudonymise: Vec<String>,
    pub drop: Vec<String>,
}

impl PiiRules {
    pub fn new(pseudonymise: &[String], drop: &[String]) -> Self {
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        Self {
            pseudonymise: lower(pseudonymise),
            drop: lower(drop),
        }
    }
}

fn matches(rules: &[String], path: &str, key: &str) -> bool {
    rules.iter().any(|r| {
        if r.contains('.') {
            r.eq_ignore_ascii_case(path)
        } else {
            r.eq_ignore_ascii_case(key)
        }
    })
}

/// Contact-like key: its letters contain `email` or `phone`.
fn contact_key(key: &str) -> Option<Kind> {
    let letters: String = key
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if letters.contains("email") {
        Some(Kind::Email)
    } else if letters.contains("phone") {
        Some(Kind::Phone)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Email,
    Phone,
    Other,
}

impl Pseudonymiser {
    /// Scans the event in place (after `apply`); see the module doc.
    pub fn scan(&self, event: &mut Map<String, Value>, project: &ProjectHasher, rules: &PiiRules) {
        if !self.enabled {
            return;
        }
        let s = Scan {
            p: self,
            project,
            rules,
        };
        s.object(event, "", true);
    }
}

struct Scan<'a> {
    p: &'a Pseudonymiser,
    project: &'a ProjectHasher,
    rules: &'a PiiRules,
}

impl Scan<'_> {
    fn pseudonym(&self, kind: Kind, raw: &str) -> String {
        let device = match kind {
            Kind::Email => self.project.hash(&normalize_email(raw)),
            Kind::Phone => self.project.hash(&normalize_phone(raw)),
            Kind::Other => self.project.hash(raw.trim()),
        };
        hex(&self.p.identity(&device))
    }

    fn object(&self, map: &mut Map<String, Value>, prefix: &str, root: bool) {
        map.retain(|key, _| {
            let path = format!("{prefix}{key}");
            !matches(&self.rules.drop, &path, key)
        });
        for (key, value) in map.iter_mut() {
            if root && KEPT.contains(&key.as_str()) {
                continue;
            }
            let path = format!("{prefix}{key}");
            if path == "context.hashed" {
                continue;
            }
            let whole = if matches(&self.rules.pseudonymise, &path, key) {
                Some(Kind::Other)
            } else {
                contact_key(key)
            };
            let number = match (whole, &*value) {
                (Some(kind), Value::Number(n)) => Some(self.pseudonym(kind, &n.to_string())),
                _ => None,
            };
            match (whole, value) {
                (Some(_), value) if number.is_some() => {
                    *value = Value::String(number.unwrap_or_default());
                }
                (Some(kind), Value::String(s)) if !is_device_hash(s) => {
                    *s = self.pseudonym(kind, s);
                }
                (_, value) => self.value(value, &path, whole),
            }
        }
    }

    fn value(&self, value: &mut Value, path: &str, whole: Option<Kind>) {
        match value {
            Value::String(s) => {
                if let Some(clean) = self.text(s) {
                    *s = clean;
                }
            }
            Value::Object(map) => self.object(map, &format!("{path}."), false),
            Value::Array(items) => {
                for item in items {
                    match (whole, item) {
                        (Some(kind), Value::String(s)) if !is_device_hash(s) => {
                            *s = self.pseudonym(kind, s)
                        }
                        (_, item) => self.value(item, path, whole),
                    }
                }
            }
            _ => {}
        }
    }

    /// The string with every e-mail and phone number replaced; None when it has none.
    fn text(&self, s: &str) -> Option<String> {
        let found = find(s);
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(s.len() + 64);
        let mut at = 0;
        for (start, end, kind) in found {
            out.push_str(&s[at..start]);
            let raw = s[start..end].replace("%40", "@").replace("%2B", "+");
            out.push_str(&self.pseudonym(kind, &raw));
            at = end;
        }
        out.push_str(&s[at..]);
        Some(out)
    }
}

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// (start, end, kind) of every e-mail and phone number in `s`, in order, not overlapping.
fn find(s: &str) -> Vec<(usize, usize, Kind)> {
    let b = s.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if let Some((start, end)) = email_at(b, i) {
            // An address wins over what was found overlapping it (a phone in its local
            // part, an earlier address whose domain its local part runs into).
            found.retain(|&(_, e, _)| e <= start);
            found.push((start, end, Kind::Email));
            i = end;
            continue;
        }
        if let Some(end) = phone_at(b, i) {
            found.push((i, end, Kind::Phone));
            i = end;
            continue;
        }
        i += 1;
    }
    found
}

/// An address whose `@` (or `%40`) is at `i`.
fn email_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let at_len = if b[i] == b'@' {
        1
    } else if b[i..].starts_with(b"%40") {
        3
    } else {
        return None;
    };
    let mut start = i;
    while start > 0 && local_char(b[start - 1]) {
        start -= 1;
    }
    // A URL-encoded `=` before the address (`email%3Dx%40y`) is not part of it.
    if let Some(p) = b[start..i]
        .windows(3)
        .rposition(|w| w.eq_ignore_ascii_case(b"%3d"))
    {
        start += p + 3;
    }
    let mut end = i + at_len;
    while end < b.len() && domain_char(b[end]) {
        end += 1;
    }
    while end > i + at_len && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &b[i + at_len..end];
    let tld = domain.rsplit(|&c| c == b'.').next().unwrap_or_default();
    let ok = start < i
        && domain.contains(&b'.')
        && tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic);
    ok.then_some((start, end))
}

/// The end of a phone number starting at `i` (`+` may be URL-encoded, `%2B`).
fn phone_at(b: &[u8], i: usize) -> Option<usize> {
    let encoded_plus = b.len() >= i + 3 && b[i..i + 3].eq_ignore_ascii_case(b"%2b");
    let first = b[i];
    if !(encoded_plus || first.is_ascii_digit() || first == b'+' || first == b'(') {
        return None;
    }
    if i > 0 && !PHONE_BEFORE.contains(&b[i - 1]) {
        return None;
    }
    let mut end = if encoded_plus { i + 3 } else { i };
    let mut digits = 0;
    while end < b.len() {
        match b[end] {
            c if c.is_ascii_digit() => digits += 1,
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            b'+' if end == i => {}
            _ => break,
        }
        end += 1;
    }
    while end > i && !b[end - 1].is_ascii_digit() {
        end -= 1;
    }
    let bounded = end == b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_');
    ((9..=15).contains(&digits) && bounded).then_some(end)
}

/// What may stand right before a phone number.
const PHONE_BEFORE: &[u8] = b" \t\n=:;,\"'<[{&?";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scanned(mut event: Value, rules: &PiiRules) -> Value {
        let p = Pseudonymiser::new("secret", true);
        p.scan(
            event.as_object_mut().unwrap(),
            &ProjectHasher::new(b"k"),
            rules,
        );
        event
    }

    fn default_rules() -> PiiRules {
        PiiRules::new(&[], &["context.ip".to_owned()])
    }

    #[test]
    fn emails_and_phones_anywhere_become_the_contact_pseudonym() {
        let event = json!({
            "messageId": "m-1", "anonymousId": "a-1",
            "properties": {"note": "mail Alice@Example.com or call +44 20 7946 0958 today",
                           "deep": {"list": ["x", {"text": "bob@example.org"}]},
                           "emailAddress": "carol@example.net", "phoneNumber": 4915112345678_u64,
                           "E-Mail": "Dan@Example.com",
                           "url": "https://shop.example/?email=eve%40example.com&q=shoes",
                           "sku": "sku_1234567890", "uuid": "123e4567-e89b-12d3-a456-426614174000",
                           "when": "2026-01-01T12:00:00Z", "price": "1299.00", "emailOptIn": true},
            "context": {"ip": "203.0.113.9", "page": {"search": "?phone=0612345678"}},
            "name": "Profile of alice@example.com"
        });
        let out = scanned(event, &default_rules());
        let text = out.to_string();
        for raw in [
            "lice@",
            "7946",
            "bob@",
            "carol@",
            "4915112345678",
            "Dan@",
            "eve%40",
            "0612345678",
            "203.0.113.9",
        ] {
            assert!(!text.contains(raw), "{raw} in {text}");
        }
        let p = Pseudonymiser::new("secret", true);
        let project = ProjectHasher::new(b"k");
        let alice = hex(&p.identity(&project.hash("alice@example.com")));
        assert_eq!(out["name"], format!("Profile of {alice}"));
        assert!(out["properties"]["note"]
            .as_str()
            .unwrap()
            .starts_with(&format!("mail {alice} or call ")));
        for kept in [
            "sku_1234567890",
            "123e4567-e89b-12d3-a456-426614174000",
            "2026-01-01T12:00:00Z",
            "1299.00",
        ] {
            assert!(text.contains(kept), "{kept} kept: {text}");
        }
        assert_eq!(out["properties"]["emailOptIn"], true);
        assert!(out["properties"]["url"]
            .as_str()
            .unwrap()
            .ends_with("&q=shoes"));
        assert_eq!(out["messageId"], "m-1");
    }

    #[test]
    fn overlapping_matches_do_not_split_the_string() {
        // Found by the ingest fuzzer: a phone-like run inside an address's local part,
        // and an address whose local part runs into an earlier one's domain.
        for (text, raw) in [
            ("x 123456789.a@b.co", "a@b.co"),
            ("a@b.co.c@d.co", "c@d.co"),
            ("1 23456789012@x.io y@x.io", "y@x.io"),
        ] {
            let out = scanned(json!({"properties": {"t": text}}), &default_rules()).to_string();
            assert!(!out.contains(raw), "{text}: {out}");
        }
    }

    #[test]
    fn configured_keys_are_pseudonymised_or_dropped() {
        let rules = PiiRules::new(
            &["properties.loyaltyCard".to_owned(), "ssn".to_owned()],
            &["context.ip".to_owned(), "fingerprint".to_owned()],
        );
        let out = scanned(
            json!({"properties": {"loyaltyCard": "LC-1", "nested": {"SSN": "078-05-1120", "fingerprint": "f"}},
                   "context": {"ip": "1.2.3.4"}}),
            &rules,
        );
        assert!(is_device_hash(
            out["properties"]["loyaltyCard"].as_str().unwrap()
        ));
        assert!(is_device_hash(
            out["properties"]["nested"]["SSN"].as_str().unwrap()
        ));
        assert!(out["properties"]["nested"].get("fingerprint").is_none());
        assert!(out["context"].get("ip").is_none());
    }
}
