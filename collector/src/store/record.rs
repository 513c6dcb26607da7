//! The feed record format, shared by every engine and by a future Kafka forwarder: a
//! record has a kind, a key (messageId, or the user for a tombstone) and a JSON value.
//! Stored without its cursor; the cursor is the storage key and is spliced in on read.

/// `"kind":"event","key":<messageId>,"value":<event>}`: an event record without its head.
pub fn event_record(message_id: &str, event_json: &[u8]) -> Vec<u8> {
    record("event", message_id, event_json)
}

/// A tombstone: downstream systems must forget everything about `key`.
pub fn tombstone_record(user_key: &str, value_json: &[u8]) -> Vec<u8> {
    record("tombstone", user_key, value_json)
}

fn record(kind: &str, key: &str, value: &[u8]) -> Vec<u8> {
    let key = serde_json::to_string(key).expect("string serialises");
    let mut out = Vec::with_capacity(value.len() + key.len() + 32);
    out.extend_from_slice(b"\"kind\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"key\":");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b",\"value\":");
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

/// The full feed line for a stored record.
pub fn feed_line(cursor: u64, stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + 24);
    out.extend_from_slice(b"{\"cursor\":");
    out.extend_from_slice(cursor.to_string().as_bytes());
    out.push(b',');
    out.extend_from_slice(stored);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json() {
        let line = feed_line(7, &event_record("m\"1", br#"{"a":1}"#));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["cursor"], 7);
        assert_eq!(v["kind"], "event");
        assert_eq!(v["key"], "m\"1");
        assert_eq!(v["value"]["a"], 1);
    }
}
