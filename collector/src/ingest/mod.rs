//! From a request body to events ready to store: envelope parsing, per-event validation,
//! enrichment (receivedAt, clock-skew corrected timestamp) and pseudonymisation. Pure
//! and synchronous; the HTTP layer does the I/O around it.

mod body;
mod context;
#[doc(hidden)]
pub mod fuzz;
mod links;
mod validate;

pub use body::{content_length, decode, read_raw};
pub use validate::{parse_time, Refusal};

use cairn_protocol::{field::HASHED, identity::PREVIOUS_ID, Kind};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{value::RawValue, Map, Value};

use crate::{keys::WriteKey, privacy::Pseudonymiser, store::NewEvent, CollectorError, Limits};

/// A request's stored events may take at most this many times the batch limit.
const EXPANSION_LIMIT: usize = 4;

/// Which endpoint a request came in on: the kind a single-event endpoint sets on its
/// event, or `None` for /v1/batch (each event names its own).
pub type Endpoint = Option<Kind>;

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
    /// Each event's index in the request, the event, and whether a link it asked for
    /// was refused (a client key's alias of a previousId other than its anonymousId).
    pub events: Vec<(usize, NewEvent, bool)>,
    /// The first `MAX_LISTED_REJECTIONS` refused events, listed in the response.
    pub rejected: Vec<Rejected>,
    /// Every refused event, listed or not, by reason (for the response and metrics).
    pub rejected_by_reason: Vec<(&'static str, u64)>,
}

/// Refused events a response lists one by one; the rest are counted by reason, so a
/// refusal never costs more than the request (250,000 bad events in 500 KB would
/// otherwise make a 20 MB answer).
pub const MAX_LISTED_REJECTIONS: usize = 100;

impl Parsed {
    fn refuse(&mut self, rejected: Rejected) {
        match self
            .rejected_by_reason
            .iter_mut()
            .find(|(r, _)| *r == rejected.reason)
        {
            Some((_, n)) => *n += 1,
            None => self.rejected_by_reason.push((rejected.reason, 1)),
        }
        if self.rejected.len() < MAX_LISTED_REJECTIONS {
            self.rejected.push(rejected);
        }
    }

    /// How many events were refused in all.
    pub fn rejected_count(&self) -> u64 {
        self.rejected_by_reason.iter().map(|(_, n)| n).sum()
    }
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
    key: WriteKey,
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
    /// header, else the body) to what it is, or refuses the request.
    pub fn parse(
        &self,
        body: &[u8],
        endpoint: Endpoint,
        received: DateTime<Utc>,
        authorise: impl FnOnce(Option<&str>) -> Result<WriteKey, CollectorError>,
    ) -> Result<Parsed, CollectorError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            CollectorError::bad_request("invalid_utf8", format!("body is not UTF-8: {e}"))
        })?;
        let (raw_events, body_key, sent_at, context) = if endpoint.is_none() {
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
        let key = authorise(body_key.as_deref())?;
        let facts = RequestFacts {
            endpoint,
            key,
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
            rejected_by_reason: Vec::new(),
        };
        // Stored events may outgrow their request (enrichment, the batch context copied
        // into each), but by a bounded factor: this much memory per request at most.
        let limit = EXPANSION_LIMIT * self.limits.max_batch_bytes;
        let mut stored_bytes = 0;
        for (index, raw) in raw_events.into_iter().enumerate() {
            match self.prepare(raw, &facts) {
                Ok((event, link_refused)) => {
                    stored_bytes += event.json.len();
                    if stored_bytes > limit {
                        return Err(CollectorError::Expanded { limit });
                    }
                    parsed.events.push((index, event, link_refused));
                }
                Err((message_id, refusal)) => parsed.refuse(Rejected {
                    index,
                    message_id,
                    reason: refusal.reason,
                    message: refusal.message,
                }),
            }
        }
        Ok(parsed)
    }

    /// One event: checked, enriched, pseudonymised and serialised; with whether a link
    /// it asked for was refused.
    fn prepare(
        &self,
        raw: &RawValue,
        facts: &RequestFacts,
    ) -> Result<(NewEvent, bool), (Option<String>, Refusal)> {
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
        let kind = validate::check(&mut event, facts.endpoint, self.limits.max_depth)
            .map_err(|r| (message_id.clone(), r))?;
        event.remove("writeKey");
        let message_id = message_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        event.insert("messageId".into(), Value::String(message_id.clone()));
        stamp_times(&mut event, facts.received, facts.sent_at);

        let hashed = hashed_paths(&event);
        let raw_id = |field| event.get(field).and_then(Value::as_str).map(str::to_owned);
        let (anonymous_id, previous_id) = (raw_id("anonymousId"), raw_id(PREVIOUS_ID));
        let p = &self.pseudonymiser;
        let ids = p.apply(&mut event, &facts.key.project, &hashed);
        let previous_hashed = hashed.iter().any(|h| h == PREVIOUS_ID);
        let event_ids = links::EventIds {
            user: ids.user,
            anonymous_id: anonymous_id.as_deref(),
            anonymous: anonymous_id.as_deref().map(|id| p.identity(id)),
            previous_id: previous_id.as_deref(),
            previous: ids.previous,
            previous_as_anonymous: previous_id
                .as_deref()
                .filter(|_| !previous_hashed)
                .map(|id| p.identity(id)),
        };
        let (links, link_refused) = links::links(kind, &facts.key, &event_ids);
        let anonymous = event_ids.anonymous;

        let json = serde_json::to_vec(&event).expect("event serialises");
        let mut dedup_key = Vec::with_capacity(8 + message_id.len());
        dedup_key.extend_from_slice(&facts.key.id);
        dedup_key.extend_from_slice(message_id.as_bytes());
        let event = NewEvent {
            dedup_key,
            message_id,
            source: facts.key.source.clone(),
            user: ids.user,
            anonymous,
            links,
            json,
            received_ms: facts.received.timestamp_millis().max(0) as u64,
        };
        Ok((event, link_refused))
    }
}

fn key_text(value: &Value) -> Result<String, CollectorError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CollectorError::bad_request("invalid_field", "writeKey must be a string"))
}

/// The paths listed in `context.hashed` (validation checked their shape).
fn hashed_paths(event: &Map<String, Value>) -> Vec<String> {
    event
        .get("context")
        .and_then(|c| c.get(HASHED))
        .and_then(Value::as_array)
        .map(|paths| {
            paths
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
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
    use cairn_protocol::identity::ProjectHasher;
    use serde_json::json;

    fn ingest() -> Ingest {
        Ingest::new(Limits::default(), Pseudonymiser::new("s", true))
    }

    fn received() -> DateTime<Utc> {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn key(server: bool) -> WriteKey {
        WriteKey {
            id: [0; 8],
            source: "test".into(),
            server,
            project: std::sync::Arc::new(ProjectHasher::new(b"pk")),
        }
    }

    fn parse_as(server: bool, endpoint: Endpoint, body: &Value) -> Parsed {
        ingest()
            .parse(body.to_string().as_bytes(), endpoint, received(), |_| {
                Ok(key(server))
            })
            .unwrap()
    }

    fn parse(endpoint: Endpoint, body: &Value) -> Parsed {
        parse_as(false, endpoint, body)
    }

    #[test]
    fn clock_skew_is_corrected_and_original_kept() {
        let body = json!({"sentAt": "2026-01-01T10:00:05Z", "batch": [
            {"type": "track", "event": "e", "anonymousId": "a", "timestamp": "2026-01-01T10:00:00Z"}
        ]});
        let parsed = parse(None, &body);
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
        let parsed = parse(None, &body);
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
        let parsed = parse(None, &body);
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
        let parsed = parse(Some(Kind::Identify), &body);
        let event = &parsed.events[0].1;
        let i = ingest();
        let p = i.pseudonymiser();
        let alice = p.identity(&ProjectHasher::new(b"pk").user_id("alice"));
        assert_eq!(event.links, vec![(alice, p.identity("anon-1"))]);
        assert_eq!(&*event.source, "test");
        let text = String::from_utf8(event.json.clone()).unwrap();
        assert!(
            !text.contains("alice") && !text.contains("a@x.io"),
            "{text}"
        );
    }

    #[test]
    fn aliases_link_user_ids_only_from_server_keys() {
        let i = ingest();
        let p = i.pseudonymiser();
        let user = |id| p.identity(&ProjectHasher::new(b"pk").user_id(id));
        let forged = json!({"previousId": "victim", "userId": "attacker", "anonymousId": "a1"});
        let parsed = parse(Some(Kind::Alias), &forged);
        assert!(parsed.events[0].2, "refused");
        assert_eq!(parsed.events.len(), 1, "the event is kept");
        assert_eq!(
            parsed.events[0].1.links,
            vec![(user("attacker"), p.identity("a1"))]
        );

        let own = json!({"previousId": "a1", "userId": "u", "anonymousId": "a1"});
        let parsed = parse(Some(Kind::Alias), &own);
        assert!(!parsed.events[0].2);
        assert_eq!(
            parsed.events[0].1.links,
            vec![(user("u"), p.identity("a1"))]
        );

        let trusted = json!({"previousId": "old", "userId": "new"});
        let parsed = parse_as(true, Some(Kind::Alias), &trusted);
        assert!(!parsed.events[0].2);
        assert_eq!(
            parsed.events[0].1.links,
            vec![(user("new"), user("old")), (user("new"), p.identity("old"))]
        );
    }
}
