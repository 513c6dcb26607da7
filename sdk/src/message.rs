//! Segment-format messages, written straight to bytes once at track() time (the
//! hot path), with `context` always last so the batch builder can add
//! `context.dropped` to the first message of a batch without re-parsing it.

use crate::consent::{Consent, Purpose};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Segment's message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Track,
    Page,
    Screen,
    Identify,
    Alias,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Page => "page",
            Kind::Screen => "screen",
            Kind::Identify => "identify",
            Kind::Alias => "alias",
            Kind::Group => "group",
        }
    }
}

/// Counters of events dropped on the device since the last delivered batch,
/// sent as `context.dropped` on the first message of each batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Evicted (oldest first) because the queue hit its count or byte bound.
    pub overflow: u64,
    /// Evicted because older than `max_event_age`.
    pub expired: u64,
    /// Refused by the collector with a 4xx other than 408/413/429.
    pub rejected: u64,
    /// A single event the collector still refused with 413.
    pub too_large: u64,
}

impl Dropped {
    pub fn total(&self) -> u64 {
        self.overflow + self.expired + self.rejected + self.too_large
    }

    /// Removes counts that have now been reported.
    pub fn subtract(&mut self, reported: &Dropped) {
        self.overflow = self.overflow.saturating_sub(reported.overflow);
        self.expired = self.expired.saturating_sub(reported.expired);
        self.rejected = self.rejected.saturating_sub(reported.rejected);
        self.too_large = self.too_large.saturating_sub(reported.too_large);
    }
}

/// Everything one message carries; `write` turns it into JSON bytes.
pub struct Message<'a> {
    pub kind: Kind,
    pub message_id: &'a str,
    pub anonymous_id: &'a str,
    pub user_id: Option<&'a str>,
    pub timestamp: DateTime<Utc>,
    /// `event` for track, `name` for page/screen.
    pub name: Option<&'a str>,
    /// `properties` (track/page/screen) or `traits` (identify/group).
    pub body: Option<&'a Map<String, Value>>,
    pub previous_id: Option<&'a str>,
    pub group_id: Option<&'a str>,
    /// Serialised static context object without its closing brace.
    pub static_context: &'a str,
    pub session_id: &'a str,
    pub consent: Consent,
    pub purpose: Purpose,
}

impl Message<'_> {
    /// Appends the message JSON to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"messageId\":");
        str_json(out, self.message_id)?;
        out.extend_from_slice(b",\"anonymousId\":");
        str_json(out, self.anonymous_id)?;
        if let Some(u) = self.user_id {
            out.extend_from_slice(b",\"userId\":");
            str_json(out, u)?;
        }
        out.extend_from_slice(b",\"timestamp\":\"");
        out.extend_from_slice(rfc3339(self.timestamp).as_bytes());
        out.push(b'"');
        if let Some(n) = self.name {
            let key: &[u8] = if self.kind == Kind::Track {
                b",\"event\":"
            } else {
                b",\"name\":"
            };
            out.extend_from_slice(key);
            str_json(out, n)?;
        }
        if let Some(p) = self.previous_id {
            out.extend_from_slice(b",\"previousId\":");
            str_json(out, p)?;
        }
        if let Some(g) = self.group_id {
            out.extend_from_slice(b",\"groupId\":");
            str_json(out, g)?;
        }
        let body_key: &[u8] = match self.kind {
            Kind::Identify | Kind::Group => b",\"traits\":",
            _ => b",\"properties\":",
        };
        if self.kind != Kind::Alias {
            out.extend_from_slice(body_key);
            match self.body {
                Some(b) => serde_json::to_writer(&mut *out, b)?,
                None => out.extend_from_slice(b"{}"),
            }
        }
        // Context goes last (see the module comment).
        out.extend_from_slice(b",\"context\":");
        out.extend_from_slice(self.static_context.as_bytes());
        out.extend_from_slice(b",\"sessionId\":");
        str_json(out, self.session_id)?;
        out.extend_from_slice(b",\"consent\":");
        serde_json::to_writer(&mut *out, &self.consent)?;
        out.extend_from_slice(b",\"purpose\":\"");
        out.extend_from_slice(self.purpose.as_str().as_bytes());
        out.extend_from_slice(b"\"}}");
        Ok(())
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2025-11-01T12:00:00.000Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn str_json(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    serde_json::to_writer(out, s)
}

/// Returns `msg` with `"dropped": {...}` added to its `context`.
pub fn with_dropped(msg: &[u8], dropped: &Dropped) -> Result<Vec<u8>, serde_json::Error> {
    let counters = serde_json::to_vec(dropped)?;
    if msg.ends_with(b"}}") {
        // Our own messages end with the context object.
        let mut out = Vec::with_capacity(msg.len() + counters.len() + 12);
        out.extend_from_slice(&msg[..msg.len() - 2]);
        out.extend_from_slice(b",\"dropped\":");
        out.extend_from_slice(&counters);
        out.extend_from_slice(b"}}");
        return Ok(out);
    }
    let mut v: Value = serde_json::from_slice(msg)?;
    if let Some(obj) = v.as_object_mut() {
        let ctx = obj
            .entry("context")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(c) = ctx.as_object_mut() {
            c.insert("dropped".into(), serde_json::to_value(dropped)?);
        }
    }
    serde_json::to_vec(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_segment_json_with_context_last() {
        let mut props = Map::new();
        props.insert("product_id".into(), "p\"1".into());
        let m = Message {
            kind: Kind::Track,
            message_id: "m1",
            anonymous_id: "a1",
            user_id: Some("u1"),
            timestamp: DateTime::from_timestamp_millis(1_762_000_000_123).unwrap(),
            name: Some("add_to_cart"),
            body: Some(&props),
            previous_id: None,
            group_id: None,
            static_context: r#"{"library":{"name":"cairn-rust","version":"0.1.0"}"#,
            session_id: "s1",
            consent: Consent::only(&[Purpose::Analytics]),
            purpose: Purpose::Analytics,
        };
        let mut out = Vec::new();
        m.write(&mut out).unwrap();
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

        let d = Dropped {
            overflow: 2,
            ..Dropped::default()
        };
        let spliced: Value = serde_json::from_slice(&with_dropped(&out, &d).unwrap()).unwrap();
        assert_eq!(spliced["context"]["dropped"]["overflow"], 2);
        assert_eq!(spliced["context"]["sessionId"], "s1");
        let foreign: Value =
            serde_json::from_slice(&with_dropped(br#"{"type":"track"} "#, &d).unwrap()).unwrap();
        assert_eq!(foreign["context"]["dropped"]["overflow"], 2);
    }
}
