//! From a feed line to the Kafka messages that carry it.
//!
//! - event: key = the stored userId (a pseudonym), else the anonymousId; value = the
//!   event JSON; headers `kind: event`, `messageId`, `source`; the partitioner picks
//!   the partition from the key;
//! - tombstone: key = the stored userId; value = the tombstone's JSON; header
//!   `kind: tombstone`; one copy to every partition (the user's anonymous events may be
//!   on any). A tombstone whose identities would not fit one message is split into
//!   several, each with its share and `split` / `splits`.

use std::borrow::Cow;

use cairn_protocol::feed::{kafka_header, RecordKind};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest tombstone value sent as one message: Kafka's default `message.max.bytes`
/// is 1 MB.
pub const MAX_TOMBSTONE_VALUE: usize = 900_000;
/// Identities per split tombstone message (67 bytes each in JSON).
const SPLIT_IDENTITIES: usize = 10_000;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The partitioner's choice from the key.
    ByKey,
    /// A copy to each partition.
    AllPartitions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub key: String,
    pub value: Vec<u8>,
    /// (name, value) pairs.
    pub headers: Vec<(&'static str, String)>,
    pub target: Target,
}

/// One feed record as the forwarder sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    pub cursor: u64,
    /// The event's receivedAt, in ms since the epoch (none for tombstones).
    pub received_ms: Option<i64>,
    pub messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Line<'a> {
    cursor: u64,
    kind: RecordKind,
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct Ids<'a> {
    #[serde(borrow, default, rename = "userId")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "anonymousId")]
    anonymous_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "receivedAt")]
    received_at: Option<Cow<'a, str>>,
}

/// The messages of one feed line; `None` when the line is not a record this collector
/// writes (never expected: it is logged and skipped by the caller).
pub fn from_feed_line(line: &[u8]) -> Option<Forwarded> {
    let line: Line = serde_json::from_slice(line).ok()?;
    let value = line.value.get().as_bytes();
    match line.kind {
        RecordKind::Event => {
            let ids: Ids = serde_json::from_slice(value).ok()?;
            let key = ids.user_id.or(ids.anonymous_id)?.into_owned();
            let received_ms = ids
                .received_at
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_millis());
            let mut headers = vec![(kafka_header::KIND, RecordKind::Event.as_str().to_owned())];
            headers.push((kafka_header::MESSAGE_ID, line.key.into_owned()));
            if let Some(source) = line.source {
                headers.push((kafka_header::SOURCE, source.into_owned()));
            }
            Some(Forwarded {
                cursor: line.cursor,
                received_ms,
                messages: vec![Message {
                    key,
                    value: value.to_vec(),
                    headers,
                    target: Target::ByKey,
                }],
            })
        }
        RecordKind::Tombstone => Some(Forwarded {
            cursor: line.cursor,
            received_ms: None,
            messages: split_tombstone(value)?
                .into_iter()
                .map(|value| Message {
                    key: line.key.to_string(),
                    value,
                    headers: vec![(
                        kafka_header::KIND,
                        RecordKind::Tombstone.as_str().to_owned(),
                    )],
                    target: Target::AllPartitions,
                })
                .collect(),
        }),
    }
}

/// The tombstone's value, split by identities when it is over `MAX_TOMBSTONE_VALUE`.
fn split_tombstone(value: &[u8]) -> Option<Vec<Vec<u8>>> {
    if value.len() <= MAX_TOMBSTONE_VALUE {
        return Some(vec![value.to_vec()]);
    }
    let whole: serde_json::Value = serde_json::from_slice(value).ok()?;
    let identities = whole.get("identities")?.as_array()?;
    let chunks: Vec<_> = identities.chunks(SPLIT_IDENTITIES).collect();
    let splits = chunks.len();
    Some(
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut part = whole.clone();
                part["identities"] = serde_json::Value::Array(chunk.to_vec());
                part["split"] = (i + 1).into();
                part["splits"] = splits.into();
                part.to_string().into_bytes()
            })
            .collect(),
    )
}

/// The cursor at the start of a feed line (`{"cursor":N,...`).
pub fn line_cursor(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"cursor\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use cairn_protocol::feed::{feed_line, stored_record};
    use serde_json::json;

    use super::*;

    #[test]
    fn events_are_keyed_by_user_else_anonymous_id() {
        let event =
            json!({"userId": "u1", "anonymousId": "a1", "receivedAt": "2026-01-01T00:00:00.001Z"});
        let line = feed_line(
            5,
            &stored_record(
                RecordKind::Event,
                "m1",
                Some("web"),
                event.to_string().as_bytes(),
            ),
        );
        assert_eq!(line_cursor(&line), Some(5));
        let f = from_feed_line(&line).unwrap();
        assert_eq!(f.cursor, 5);
        assert_eq!(f.received_ms, Some(1_767_225_600_001));
        let m = &f.messages[0];
        assert_eq!((m.key.as_str(), m.target), ("u1", Target::ByKey));
        assert_eq!(
            m.headers,
            [
                ("kind", "event".to_owned()),
                ("messageId", "m1".to_owned()),
                ("source", "web".to_owned())
            ]
        );
        assert_eq!(m.value, event.to_string().into_bytes());
        let anon = json!({"anonymousId": "a\"2"}).to_string();
        let line = feed_line(
            6,
            &stored_record(RecordKind::Event, "m2", None, anon.as_bytes()),
        );
        assert_eq!(from_feed_line(&line).unwrap().messages[0].key, "a\"2");
    }

    #[test]
    fn tombstones_go_everywhere_and_split_when_large() {
        let small = json!({"userId": "u1", "identities": ["ab"], "deletedEvents": 1});
        let line = feed_line(
            9,
            &stored_record(
                RecordKind::Tombstone,
                "u1",
                None,
                small.to_string().as_bytes(),
            ),
        );
        let f = from_feed_line(&line).unwrap();
        assert_eq!(f.messages.len(), 1);
        assert_eq!(f.messages[0].target, Target::AllPartitions);
        assert_eq!(f.messages[0].key, "u1");
        let ids: Vec<String> = (0..25_000).map(|i| format!("{i:064x}")).collect();
        let large = json!({"userId": "u1", "identities": ids, "deletedEvents": 3});
        let line = feed_line(
            10,
            &stored_record(
                RecordKind::Tombstone,
                "u1",
                None,
                large.to_string().as_bytes(),
            ),
        );
        let f = from_feed_line(&line).unwrap();
        assert_eq!(f.messages.len(), 3);
        let mut seen = 0;
        for (i, m) in f.messages.iter().enumerate() {
            assert!(m.value.len() <= MAX_TOMBSTONE_VALUE);
            let v: serde_json::Value = serde_json::from_slice(&m.value).unwrap();
            assert_eq!(
                (v["split"].as_u64(), v["splits"].as_u64()),
                (Some(i as u64 + 1), Some(3))
            );
            assert_eq!(v["deletedEvents"], 3);
            seen += v["identities"].as_array().unwrap().len();
        }
        assert_eq!(seen, 25_000);
    }
}
