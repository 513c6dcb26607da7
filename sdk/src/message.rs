//! Segment-format messages, written straight to bytes once at track() time (the
//! hot path). What is stored holds only the per-event part of `context`
//! (sessionId, consent, purpose), always last; `expand` adds the static context
//! (library, device, os, app...) and, on the first message of a batch,
//! `context.dropped`, when the batch is built. This keeps the queue small: the
//! static context is often a third of an event.

use crate::consent::{Consent, Purpose};
use crate::text;
use cairn_protocol::{field, identity};

pub use cairn_protocol::{Dropped, Kind};

/// Everything one message carries; `write` turns it into JSON bytes.
pub struct Message<'a> {
    pub kind: Kind,
    pub message_id: &'a str,
    pub anonymous_id: &'a str,
    pub user_id: Option<&'a str>,
    /// Epoch milliseconds (written as RFC 3339 UTC with millis).
    pub timestamp: i64,
    /// `event` for track, `name` for page/screen.
    pub name: Option<&'a str>,
    /// `properties` (track/page/screen) or `traits` (identify/group): JSON object
    /// text, already checked (`json::object`), written as it is.
    pub body: Option<&'a str>,
    pub previous_id: Option<&'a str>,
    pub group_id: Option<&'a str>,
    pub session_id: &'a str,
    pub consent: Consent,
    /// The purpose the event needs; `None` for the consent record.
    pub purpose: Option<Purpose>,
    /// Whether `user_id` is the device hash (listed first in `context.hashed`).
    pub user_id_hashed: bool,
    /// Other fields hashed on the device under the project hash key
    /// (`context.hashed`, paths as in `cairn_protocol::identity`).
    pub hashed: &'a [String],
    /// Members (JSON text without braces) added to this message's `context`
    /// before `sessionId`: the web tracker's page context; empty for none.
    pub context: &'a str,
}

impl Message<'_> {
    /// Appends the message JSON to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"messageId\":");
        text::push_str(out, self.message_id);
        out.extend_from_slice(b",\"anonymousId\":");
        text::push_str(out, self.anonymous_id);
        if let Some(u) = self.user_id {
            out.extend_from_slice(b",\"userId\":");
            text::push_str(out, u);
        }
        out.extend_from_slice(b",\"timestamp\":\"");
        text::push_rfc3339(out, self.timestamp);
        out.push(b'"');
        if let (Some(n), Some(key)) = (self.name, self.kind.name_field()) {
            out.push(b',');
            push_key(out, key);
            text::push_str(out, n);
        }
        if let Some(p) = self.previous_id {
            out.extend_from_slice(b",\"previousId\":");
            text::push_str(out, p);
        }
        if let Some(g) = self.group_id {
            out.extend_from_slice(b",\"groupId\":");
            text::push_str(out, g);
        }
        if let Some(key) = self.kind.body_field() {
            out.push(b',');
            push_key(out, key);
            out.extend_from_slice(self.body.unwrap_or("{}").as_bytes());
        }
        // Context goes last (see the module comment).
        out.extend_from_slice(CONTEXT_KEY);
        if !self.context.is_empty() {
            out.extend_from_slice(self.context.as_bytes());
            out.push(b',');
        }
        push_key(out, field::SESSION_ID);
        text::push_str(out, self.session_id);
        out.push(b',');
        push_key(out, field::CONSENT);
        text::write_consent(out, &self.consent);
        out.push(b',');
        push_key(out, field::PURPOSE);
        let purpose = self
            .purpose
            .map_or(field::CONSENT_RECORD_PURPOSE, Purpose::as_str);
        text::push_str(out, purpose);
        // The user id's path first, then the others (no iterator chain: smaller
        // web tracker).
        if self.user_id_hashed || !self.hashed.is_empty() {
            out.push(b',');
            push_key(out, field::HASHED);
            let mut sep = b'[';
            if self.user_id_hashed {
                out.push(sep);
                sep = b',';
                text::push_str(out, identity::USER_ID);
            }
            for path in self.hashed {
                out.push(sep);
                sep = b',';
                text::push_str(out, path);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
    }
}

/// Appends `"name":` (Cairn's context field names are cairn-protocol's).
fn push_key(out: &mut Vec<u8>, name: &str) {
    text::push_str(out, name);
    out.push(b':');
}

const CONTEXT_KEY: &[u8] = b",\"context\":{";

/// Appends the wire form of a stored message to `out`: `static_fields` (the
/// static context object without its braces) go first inside `context`, and
/// `dropped` (serialised counters), when given, last. Returns false, writing
/// nothing, if `stored` is not a message written by `Message::write`.
pub fn expand(
    out: &mut Vec<u8>,
    stored: &[u8],
    static_fields: &str,
    dropped: Option<&[u8]>,
) -> bool {
    // The top-level context is the last `,"context":{` (any earlier one is inside
    // properties; inside a JSON string the quotes would be escaped).
    let Some(at) = stored
        .windows(CONTEXT_KEY.len())
        .rposition(|w| w == CONTEXT_KEY)
    else {
        return false;
    };
    if !stored.ends_with(b"}}") {
        return false;
    }
    // `get`, not indexing: the ranges are always in bounds (the key ends in `{`,
    // before the final `}}`), and no panic path (or its location) is left.
    let split = at + CONTEXT_KEY.len();
    let (head, tail) = stored.split_at_checked(split).unwrap_or_default();
    out.extend_from_slice(head);
    if !static_fields.is_empty() {
        out.extend_from_slice(static_fields.as_bytes());
        out.push(b',');
    }
    match dropped {
        Some(d) => {
            out.extend_from_slice(tail.get(..tail.len().saturating_sub(2)).unwrap_or_default());
            out.push(b',');
            push_key(out, field::DROPPED);
            out.extend_from_slice(d);
            out.extend_from_slice(b"}}");
        }
        None => out.extend_from_slice(tail),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    #[test]
    fn writes_valid_segment_json_with_context_last() {
        let mut props = Map::new();
        props.insert("product_id".into(), "p\"1".into());
        let m = Message {
            kind: Kind::Track,
            message_id: "m1",
            anonymous_id: "a1",
            user_id: Some("u1"),
            timestamp: 1_762_000_000_123,
            name: Some("add_to_cart"),
            body: Some(&serde_json::to_string(&props).unwrap()),
            previous_id: None,
            group_id: None,
            session_id: "s1",
            consent: Consent::only(&[Purpose::Analytics]),
            purpose: Some(Purpose::Analytics),
            user_id_hashed: true,
            hashed: &[],
            context: "",
        };
        let mut stored = Vec::new();
        m.write(&mut stored);
        let mut out = Vec::new();
        let lib = r#""library":{"name":"cairn-rust","version":"0.1.0"}"#;
        assert!(expand(&mut out, &stored, lib, None));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "track");
        assert_eq!(v["event"], "add_to_cart");
        assert_eq!(v["properties"]["product_id"], "p\"1");
        assert_eq!(v["timestamp"], "2025-11-01T12:26:40.123Z");
        assert_eq!(v["context"]["library"]["name"], "cairn-rust");
        assert_eq!(v["context"]["sessionId"], "s1");
        assert_eq!(v["context"]["consent"]["analytics"], true);
        assert_eq!(v["context"]["consent"]["marketing"], false);
        assert_eq!(v["context"]["purpose"], "analytics");
        assert_eq!(v["context"]["hashed"], serde_json::json!(["userId"]));
        assert!(v["context"].get("dropped").is_none());

        let d = serde_json::to_vec(&Dropped {
            overflow: 2,
            ..Dropped::default()
        })
        .unwrap();
        let mut out = Vec::new();
        assert!(expand(&mut out, &stored, lib, Some(&d)));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["context"]["dropped"]["overflow"], 2);
        assert_eq!(v["context"]["sessionId"], "s1");
        assert_eq!(v["context"]["library"]["version"], "0.1.0");
        assert!(!expand(&mut Vec::new(), br#"{"type":"track"}"#, lib, None));
    }

    #[test]
    fn expand_finds_the_top_level_context_after_a_nested_one() {
        let mut props = Map::new();
        props.insert("context".into(), serde_json::json!({"x": 1}));
        props.insert("s".into(), r#","context":{"#.into());
        let m = Message {
            kind: Kind::Page,
            message_id: "m",
            anonymous_id: "a",
            user_id: None,
            timestamp: 0,
            name: Some("Home"),
            body: Some(&serde_json::to_string(&props).unwrap()),
            previous_id: None,
            group_id: None,
            session_id: "s",
            consent: Consent::all(),
            purpose: None,
            user_id_hashed: false,
            hashed: &[],
            context: r#""page":{"path":"/"}"#,
        };
        let mut stored = Vec::new();
        m.write(&mut stored);
        let mut out = Vec::new();
        assert!(expand(&mut out, &stored, r#""locale":"fr-FR""#, None));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["properties"]["context"], serde_json::json!({"x": 1}));
        assert_eq!(v["context"]["locale"], "fr-FR");
        assert_eq!(v["context"]["page"]["path"], "/");
        assert_eq!(v["context"]["sessionId"], "s");
        assert_eq!(v["context"]["purpose"], "consent");
        assert!(v["context"].get("hashed").is_none());
    }
}
