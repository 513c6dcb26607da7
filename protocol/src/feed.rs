//! The feed record: one line of `GET /v1/feed`, and the shape a Kafka message carries
//! (key, the [`kafka_header`]s, the event JSON as value).
//!
//! `{"cursor":N,"kind":"event","key":<messageId>,"source":<name>,"value":<event>}`, or
//! `{"cursor":N,"kind":"tombstone","key":<user pseudonym>,"value":{...}}`: downstream
//! must forget everything about that user. `source` names where the event came from
//! (configured per write key; never the key itself).

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum RecordKind {
    Event,
    Tombstone,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Event => "event",
            RecordKind::Tombstone => "tombstone",
        }
    }
}

/// The headers of a record forwarded to Kafka (the collector writes them, consumers
/// read them): every message has [`KIND`](kafka_header::KIND) (a [`RecordKind`] name);
/// an event's also has [`MESSAGE_ID`](kafka_header::MESSAGE_ID) and, when its write key
/// names one, [`SOURCE`](kafka_header::SOURCE). The key is the user's pseudonym.
pub mod kafka_header {
    pub const KIND: &str = "kind";
    pub const MESSAGE_ID: &str = "messageId";
    pub const SOURCE: &str = "source";
}

/// One feed line, parsed (the value stays generic so readers choose their JSON type).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FeedRecord<V> {
    pub cursor: u64,
    pub kind: RecordKind,
    pub key: String,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub source: Option<String>,
    pub value: V,
}

/// A record as stored, without its cursor (the storage position), which
/// [`feed_line`] splices in on read: `"kind":..,"key":..[,"source":..],"value":..}`.
pub fn stored_record(kind: RecordKind, key: &str, source: Option<&str>, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + key.len() + 64);
    out.extend_from_slice(b"\"kind\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"key\":");
    push_json_str(&mut out, key);
    if let Some(s) = source {
        out.extend_from_slice(b",\"source\":");
        push_json_str(&mut out, s);
    }
    out.extend_from_slice(b",\"value\":");
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

/// The full feed line of a stored record.
pub fn feed_line(cursor: u64, stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + 24);
    out.extend_from_slice(b"{\"cursor\":");
    out.extend_from_slice(cursor.to_string().as_bytes());
    out.push(b',');
    out.extend_from_slice(stored);
    out
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = c as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[n >> 4]);
                out.push(HEX[n & 15]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json() {
        let stored = stored_record(RecordKind::Event, "m\"1\u{1}", Some("web"), br#"{"a":1}"#);
        let line = feed_line(7, &stored);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["cursor"], 7);
        assert_eq!(v["kind"], "event");
        assert_eq!(v["key"], "m\"1\u{1}");
        assert_eq!(v["source"], "web");
        assert_eq!(v["value"]["a"], 1);
        let t = feed_line(8, &stored_record(RecordKind::Tombstone, "u", None, b"{}"));
        let v: serde_json::Value = serde_json::from_slice(&t).unwrap();
        assert!(v.get("source").is_none());
        assert_eq!(v["kind"], "tombstone");
    }
}
