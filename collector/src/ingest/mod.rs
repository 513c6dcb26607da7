//! From a request body to events ready to store: envelope parsing, per-event validation,
//! enrichment (receivedAt, clock-skew corrected timestamp) and pseudonymisation. Pure
//! and synchronous; the HTTP layer does the I/O around it.

mod body;
mod validate;

pub use body::{content_length, read_limited};
pub use validate::{parse_time, Refusal};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{value::RawValue, Map, Value};

use crate::{keys::WriteKeyId, privacy::Pseudonymiser, store::NewEvent, CollectorError, Limits};

/// A request's stored events may take at most this many times the batch limit.
const EXPANSION_LIMIT: usize = 4;

/// Which Segment endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Batch,
    Track,
    Page,
    Screen,
    Identify,
    Alias,
    Group,
}

impl Endpoint {
    /// The type every event of a single-event endpoint has.
    pub fn event_type(self) -> Option<&'static str> {
        Some(match self {
            Self::Batch => return None,
            Self::Track => "track",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Identify => "identify",
            Self::Alias => "alias",
            Self::Group => "group",
        })
    }
}

/// One refused event of a batch, as the response lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rejected {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub reason: &'static str,
    pub message: String,
}

/// A parsed request: its events, each either ready to store or refused.
pub struct Parsed {
    pub events: Vec<(usize, NewEvent)>,
    pub rejected: Vec<Rejected>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    context: Option<Value>,
}

/// Turns request bodies into events. One per server.
pub struct Ingest {
    limits: Limits,
    pseudonymiser: Pseudonymiser,
}

/// What every event of one request shares.
struct RequestFacts<'a> {
    endpoint: Endpoint,
    write_key_id: WriteKeyId,
    received: DateTime<Utc>,
    sent_at: Option<&'a str>,
    context: Option<&'a Map<String, Value>>,
    /// Serialised size of `context`.
    context_bytes: usize,
}

impl Ingest {
    pub fn new(limits: Limits, pseudonymiser: Pseudonymiser) -> Self {
        Self {
            limits,
            pseudonymiser,
        }
    }

    pub fn pseudonymiser(&self) -> &Pseudonymiser {
        &self.pseudonymiser
    }

    /// Parses and checks a decompressed body. `authorise` maps the write key (from the
    /// header, else the body) to its id, or refuses the request.
    pub fn parse(
        &self,
        body: &[u8],
        endpoint: Endpoint,
        received: DateTime<Utc>,
        authorise: impl FnOnce(Option<&str>) -> Result<WriteKeyId, CollectorError>,
    ) -> Result<Parsed, CollectorError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            CollectorError::bad_request("invalid_utf8", format!("body is not UTF-8: {e}"))
        })?;
        let (raw_events, body_key, sent_at, context) = if endpoint == Endpoint::Batch {
            let envelope: Envelope = serde_json::from_str(text).map_err(json_error)?;
            let key = envelope.write_key.as_ref().map(key_text).transpose()?;
            let sent_at = envelope.sent_at.and_then(|v| v.as_str().map(str::to_owned));
            let context = match envelope.context {
                None | Some(Value::Null) => None,
                Some(Value::Object(m)) => Some(m),
                Some(_) => {
                    return Err(CollectorError::bad_request(
                        "invalid_field",
                        "batch context must be an object",
                    ))
                }
            };
            (envelope.batch, key, sent_at, context)
        } else {
            let raw: &RawValue = serde_json::from_str(text).map_err(json_error)?;
            let head: Map<String, Value> = serde_json::from_str(raw.get()).map_err(|e| {
                let reason = if too_deep(&e) {
                    "too_deep"
                } else {
                    "not_an_object"
                };
                CollectorError::bad_request(reason, format!("event must be an object: {e}"))
            })?;
            let key = head.get("writeKey").map(key_text).transpose()?;
            (vec![raw], key, None, None)
        };
        let write_key_id = authorise(body_key.as_deref())?;
        let facts = RequestFacts {
            endpoint,
            write_key_id,
            received,
            sent_at: sent_at.as_deref(),
            context_bytes: context
                .as_ref()
                .map_or(0, |c| serde_json::to_string(c).map_or(0, |t| t.len())),
            context: context.as_ref(),
        };
        let mut parsed = Parsed {
            events: Vec::with_capacity(raw_events.len()),
            rejected: Vec::new(),
        };
        // Stored events may outgrow their request (enrichment, the batch context copied
        // into each), but by a bounded factor: this much memory per request at most.
        let limit = EXPANSION_LIMIT * self.limits.max_batch_bytes;
        let mut stored_bytes = 0;
        for (index, raw) in raw_events.into_iter().enumerate() {
            match self.prepare(raw, &facts) {
                Ok(event) => {
                    stored_bytes += event.json.len();
                    if stored_bytes > limit {
                        return Err(CollectorError::Expanded { limit });
                    }
                    parsed.events.push((index, event));
                }
                Err((message_id, refusal)) => parsed.rejected.push(Rejected {
                    index,
                    message_id,
                    reason: refusal.reason,
                    message: refusal.message,
                }),
            }
        }
        Ok(parsed)
    }

    /// One event: checked, enriched, pseudonymised and serialised.
    fn prepare(
        &self,
        raw: &RawValue,
        facts: &RequestFacts,
    ) -> Result<NewEvent, (Option<String>, Refusal)> {
        let size = raw.get().len();
        let max = self.limits.max_event_bytes;
        let mut event: Map<String, Value> = match serde_json::from_str(raw.get()) {
            Ok(event) => event,
            Err(e) if too_deep(&e) => {
                return Err((
                    None,
                    Refusal::new("too_deep", format!("event nests too deep: {e}")),
                ))
            }
            Err(_) => {
                return Err((
                    None,
                    Refusal::new("not_an_object", "event must be a JSON object"),
                ))
            }
        };
        let message_id = event
            .get("messageId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // The batch context counts as part of every event it is merged into, and is
        // validated with it (consent, depth).
        let size = size + facts.context_bytes;
        if size > max {
            let refusal = Refusal::new("too_large", format!("event is {size} bytes, over {max}"));
            return Err((message_id, refusal));
        }
        merge_context(&mut event, facts.context);
        validate::check(&mut event, facts.endpoint, self.limits.max_depth)
            .map_err(|r| (message_id.clone(), r))?;
        event.remove("writeKey");
        let message_id = message_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        event.insert("messageId".into(), Value::String(message_id.clone()));
        stamp_times(&mut event, facts.received, facts.sent_at);

        // Any event that carries both ids ties the anonymousId to the user (as in
        // Segment's identity model); an alias ties its previousId to the user.
        let p = &self.pseudonymiser;
        let identity_of = |field| {
            event
                .get(field)
                .and_then(Value::as_str)
                .map(|id| p.identity(id))
        };
        let user = identity_of("userId");
        let anonymous = identity_of("anonymousId");
        let previous = identity_of("previousId").filter(|_| event["type"] == "alias");
        let links = match user {
            Some(user) => anonymous
                .into_iter()
                .chain(previous)
                .map(|other| (user, other))
                .collect(),
            None => Vec::new(),
        };
        p.apply(&mut event);

        let json = serde_json::to_vec(&event).expect("event serialises");
        let mut dedup_key = Vec::with_capacity(8 + message_id.len());
        dedup_key.extend_from_slice(&facts.write_key_id);
        dedup_key.extend_from_slice(message_id.as_bytes());
        Ok(NewEvent {
            dedup_key,
            message_id,
            user,
            anonymous,
            links,
            json,
            received_ms: facts.received.timestamp_millis().max(0) as u64,
        })
    }
}

fn key_text(value: &Value) -> Result<String, CollectorError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CollectorError::bad_request("invalid_field", "writeKey must be a string"))
}

/// serde_json's nesting limit (128) was hit: the text nests deeper than any event may.
fn too_deep(e: &serde_json::Error) -> bool {
    e.to_string().contains("recursion limit")
}

fn json_error(e: serde_json::Error) -> CollectorError {
    use serde_json::error::Category;
    let message = e.to_string();
    if too_deep(&e) {
        return CollectorError::bad_request("too_deep", format!("body nests too deep: {message}"));
    }
    match e.classify() {
        Category::Data => CollectorError::bad_request(
            "not_a_batch",
            format!("expected {{\"batch\": [events...]}}: {message}"),
        ),
        _ => CollectorError::bad_request("invalid_json", format!("malformed JSON: {message}")),
    }
}

/// Batch-level context fields fill in what an event's own context lacks.
fn merge_context(event: &mut Map<String, Value>, shared: Option<&Map<String, Value>>) {
    let Some(shared) = shared else { return };
    let context = event
        .entry("context")
        .or_insert_with(|| Value::Object(Map::new()));
    if context.is_null() {
        *context = Value::Object(Map::new());
    }
    if let Value::Object(context) = context {
        for (k, v) in shared {
            context.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// receivedAt is the server's clock. The client's `timestamp` is kept as
/// originalTimestamp, and `timestamp` is corrected for the client's clock skew:
/// `receivedAt - (sentAt - originalTimestamp)`.
fn stamp_times(
    event: &mut Map<String, Value>,
    received: DateTime<Utc>,
    batch_sent_at: Option<&str>,
) {
    let format = |t: DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let original = event
        .get("timestamp")
        .or_else(|| event.get("originalTimestamp"))
        .and_then(Value::as_str)
        .and_then(parse_time);
    let sent_at = event
        .get("sentAt")
        .and_then(Value::as_str)
        .or(batch_sent_at)
        .and_then(parse_time);
    let plausible = |t: &DateTime<Utc>| (1970..=9999).contains(&t.year());
    let original_utc = original.map(|o| o.with_timezone(&Utc));
    let corrected = match (original, sent_at) {
        (Some(original), Some(sent)) => received.checked_sub_signed(sent - original),
        _ => None,
    };
    // A correction that lands outside 1970..=9999 comes from nonsense clocks: keep the
    // client's time if that is plausible, else the server's.
    let timestamp = corrected
        .filter(plausible)
        .or(original_utc.filter(plausible))
        .unwrap_or(received);
    if let Some(original) = original {
        event.insert(
            "originalTimestamp".into(),
            format(original.with_timezone(&Utc)),
        );
    }
    if let Some(sent) = sent_at {
        event.insert("sentAt".into(), format(sent.with_timezone(&Utc)));
    }
    event.insert("timestamp".into(), format(timestamp));
    event.insert("receivedAt".into(), format(received));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingest() -> Ingest {
        Ingest::new(Limits::default(), Pseudonymiser::new("s", true))
    }

    fn received() -> DateTime<Utc> {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn parse(endpoint: Endpoint, body: &Value) -> Parsed {
        ingest()
            .parse(body.to_string().as_bytes(), endpoint, received(), |_| {
                Ok([0; 8])
            })
            .unwrap()
    }

    #[test]
    fn clock_skew_is_corrected_and_original_kept() {
        let body = json!({"sentAt": "2026-01-01T10:00:05Z", "batch": [
            {"type": "track", "event": "e", "anonymousId": "a", "timestamp": "2026-01-01T10:00:00Z"}
        ]});
        let parsed = parse(Endpoint::Batch, &body);
        let stored: Value = serde_json::from_slice(&parsed.events[0].1.json).unwrap();
        assert_eq!(stored["timestamp"], "2026-01-01T11:59:55.000Z");
        assert_eq!(stored["originalTimestamp"], "2026-01-01T10:00:00.000Z");
        assert_eq!(stored["receivedAt"], "2026-01-01T12:00:00.000Z");
    }

    #[test]
    fn implausible_corrections_fall_back() {
        let body = json!({"sentAt": "9999-12-31T00:00:00Z", "batch": [
            {"type": "track", "event": "e", "anonymousId": "a", "timestamp": "0001-01-01T00:00:00Z"},
            {"type": "track", "event": "e", "anonymousId": "a", "timestamp": "2025-06-01T00:00:00Z", "sentAt": "2025-06-01T00:00:01Z"}
        ]});
        let parsed = parse(Endpoint::Batch, &body);
        let stored =
            |i: usize| -> Value { serde_json::from_slice(&parsed.events[i].1.json).unwrap() };
        assert_eq!(stored(0)["timestamp"], "2026-01-01T12:00:00.000Z");
        assert_eq!(stored(0)["originalTimestamp"], "0001-01-01T00:00:00.000Z");
        assert_eq!(stored(1)["timestamp"], "2026-01-01T11:59:59.000Z");
    }

    #[test]
    fn bad_events_are_listed_and_good_ones_kept() {
        let body = json!({"batch": [
            {"type": "track", "event": "ok", "userId": "u", "messageId": "m1"},
            {"type": "nope", "userId": "u", "messageId": "m2"},
            7
        ]});
        let parsed = parse(Endpoint::Batch, &body);
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.rejected.len(), 2);
        assert_eq!(parsed.rejected[0].index, 1);
        assert_eq!(parsed.rejected[0].message_id.as_deref(), Some("m2"));
        assert_eq!(parsed.rejected[0].reason, "invalid_type");
        assert_eq!(parsed.rejected[1].reason, "not_an_object");
    }

    #[test]
    fn identify_links_anonymous_id_to_user() {
        let body =
            json!({"userId": "alice", "anonymousId": "anon-1", "traits": {"email": "a@x.io"}});
        let parsed = parse(Endpoint::Identify, &body);
        let event = &parsed.events[0].1;
        let i = ingest();
        let p = i.pseudonymiser();
        assert_eq!(
            event.links,
            vec![(p.identity("alice"), p.identity("anon-1"))]
        );
        let text = String::from_utf8(event.json.clone()).unwrap();
        assert!(
            !text.contains("alice") && !text.contains("a@x.io"),
            "{text}"
        );
    }
}
