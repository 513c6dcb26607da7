//! A table of malformed requests against one real collector. Each gets its specified
//! status and reason code: a request-level error (`{"success":false,"error":<reason>}`) or,
//! where the batch itself is sound, a per-event rejection in a 200 response. Afterwards
//! the same server still accepts a valid batch, and none of the bad events is stored.

mod api_support;

use api_support::*;
use cairn_testkit::WRITE_KEY;
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    reason: &'static str,
}

impl Case {
    /// A request with the test write key as Basic user name and a JSON content type.
    fn new(
        name: &'static str,
        body: impl Into<Vec<u8>>,
        status: u16,
        reason: &'static str,
    ) -> Self {
        Self {
            name,
            path: "/v1/batch",
            headers: vec![
                ("authorization", basic(WRITE_KEY)),
                ("content-type", "application/json".to_owned()),
            ],
            body: body.into(),
            status,
            reason,
        }
    }

    /// A batch holding the one event, refused per event with `reason`.
    fn event(name: &'static str, event: Value, reason: &'static str) -> Self {
        Self::new(name, json!({"batch": [event]}).to_string(), 200, reason)
    }

    fn path(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
        self
    }
}

fn nested(levels: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels))
}

fn track(id: &str) -> Value {
    json!({"type": "track", "event": "Viewed", "anonymousId": "anon", "messageId": id})
}

fn with(id: &str, field: &str, value: Value) -> Value {
    let mut event = track(id);
    event[field] = value;
    event
}

fn without(id: &str, field: &str) -> Value {
    let mut event = track(id);
    event.as_object_mut().unwrap().remove(field);
    event
}

fn cases() -> Vec<Case> {
    let mut gzip_bomb_json = br#"{"batch": ["#.to_vec();
    gzip_bomb_json.extend(std::iter::repeat_n(b' ', 4 * 1024 * 1024));
    gzip_bomb_json.extend_from_slice(
        br#"{"type":"track","event":"e","anonymousId":"a","messageId":"bad-bomb"}]}"#,
    );
    let bomb = gzip(&gzip_bomb_json);

    let mut invalid_utf8 = br#"{"batch": [{"type":"track","event":"caf"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#"","anonymousId":"a","messageId":"bad-utf8"}]}"#);

    let deep_event = format!(
        r#"{{"batch": [{{"type":"track","event":"e","anonymousId":"a","messageId":"bad-deep","properties":{}}}]}}"#,
        nested(40)
    );
    let too_deep_body = format!(
        r#"{{"batch": [{{"type":"track","event":"e","anonymousId":"a","messageId":"bad-deeper","properties":{}}}]}}"#,
        nested(300)
    );
    let too_deep_envelope = format!(r#"{{"batch": [], "context": {}}}"#, nested(300));
    let too_deep_single = format!(
        r#"{{"event":"e","anonymousId":"a","messageId":"bad-deep-single","properties":{}}}"#,
        nested(300)
    );

    vec![
        Case::new(
            "broken JSON",
            r#"{"batch": [{"type": "track","#,
            400,
            "invalid_json",
        ),
        Case::new("empty body", "", 400, "invalid_json"),
        Case::new(
            "trailing garbage",
            r#"{"batch": []} xyz"#,
            400,
            "invalid_json",
        ),
        Case::new(
            "top-level array",
            json!([track("bad-array")]).to_string(),
            400,
            "not_a_batch",
        ),
        Case::new("batch is a number", r#"{"batch": 5}"#, 400, "not_a_batch"),
        Case::new(
            "no batch field",
            json!({"events": [track("bad-nobatch")]}).to_string(),
            400,
            "not_a_batch",
        ),
        Case::new(
            "batch context not an object",
            json!({"batch": [track("bad-ctx")], "context": 3}).to_string(),
            400,
            "invalid_field",
        ),
        Case::new("single event not an object", "[1, 2]", 400, "not_an_object").path("/v1/track"),
        Case::event(
            "unknown type",
            with("bad-type", "type", json!("teleport")),
            "invalid_type",
        ),
        Case::event(
            "type of wrong type",
            with("bad-type-num", "type", json!(3)),
            "invalid_type",
        ),
        Case::event(
            "missing type",
            without("bad-notype", "type"),
            "missing_type",
        ),
        Case::event(
            "missing ids",
            without("bad-noids", "anonymousId"),
            "missing_id",
        ),
        Case::event(
            "userId of wrong type",
            with("bad-uid", "userId", json!({"id": 1})),
            "invalid_id",
        ),
        Case::event(
            "userId over 1 KB",
            with("bad-uid-long", "userId", json!("u".repeat(2000))),
            "invalid_id",
        ),
        Case::event(
            "track without event",
            without("bad-noevent", "event"),
            "missing_event",
        ),
        Case::event(
            "track with empty event",
            with("bad-emptyevent", "event", json!("  ")),
            "missing_event",
        ),
        Case::event(
            "properties is an array",
            with("bad-props", "properties", json!([1, 2])),
            "invalid_field",
        ),
        Case::event(
            "context is a string",
            with("bad-context", "context", json!("web")),
            "invalid_field",
        ),
        Case::event(
            "name is a number",
            with("bad-name", "name", json!(7)),
            "invalid_field",
        ),
        Case::event(
            "invalid timestamp",
            with("bad-ts", "timestamp", json!("yesterday")),
            "invalid_timestamp",
        ),
        Case::event(
            "timestamp is a number",
            with("bad-ts-num", "timestamp", json!(1700000000)),
            "invalid_timestamp",
        ),
        Case::event(
            "messageId of wrong type",
            with("ignored", "messageId", json!(42)),
            "invalid_message_id",
        ),
        Case::event(
            "alias without previousId",
            json!({"type": "alias", "userId": "u", "messageId": "bad-alias"}),
            "missing_previous_id",
        ),
        Case::event(
            "group without groupId",
            json!({"type": "group", "userId": "u", "messageId": "bad-group"}),
            "missing_group_id",
        ),
        Case::event(
            "consent not an object",
            with("bad-consent", "context", json!({"consent": true})),
            "invalid_field",
        ),
        Case::event(
            "consent refused",
            with(
                "bad-consent-no",
                "context",
                json!({"consent": {"analytics": false}}),
            ),
            "consent",
        ),
        Case::event(
            "context.hashed is not a list",
            with("bad-hashed", "context", json!({"hashed": "userId"})),
            "invalid_hashed",
        ),
        Case::event(
            "a raw userId listed as hashed",
            json!({"type": "identify", "userId": "alice", "messageId": "bad-hashed-raw",
                   "context": {"hashed": ["userId"]}}),
            "invalid_hashed",
        ),
        Case::event(
            "purpose consent on another event",
            with("bad-purpose", "context", json!({"purpose": "consent"})),
            "invalid_purpose",
        ),
        Case::event(
            "event is not an object",
            json!("bad-string-event"),
            "not_an_object",
        ),
        Case::event(
            "huge string",
            with(
                "bad-huge",
                "properties",
                json!({"blob": "z".repeat(40 * 1024)}),
            ),
            "too_large",
        ),
        Case::new("deep nesting inside one event", deep_event, 200, "too_deep"),
        Case::new(
            "event nested past the parser's limit",
            too_deep_body,
            200,
            "too_deep",
        ),
        Case::new(
            "body nested past the parser's limit",
            too_deep_envelope,
            400,
            "too_deep",
        ),
        Case::new(
            "nesting past the parser's limit, single event",
            too_deep_single,
            400,
            "too_deep",
        )
        .path("/v1/track"),
        Case::new("invalid UTF-8", invalid_utf8, 400, "invalid_utf8"),
        Case::new("gzip bomb", bomb, 413, "too_large").header("content-encoding", "gzip"),
        Case::new(
            "invalid gzip",
            vec![0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01],
            400,
            "invalid_gzip",
        )
        .header("content-encoding", "gzip"),
        Case::new(
            "gzip of broken JSON",
            gzip(br#"{"batch": [}"#),
            400,
            "invalid_json",
        )
        .header("content-encoding", "gzip"),
        Case::new(
            "wrong key",
            json!({"batch": [track("bad-key")]}).to_string(),
            401,
            "unauthorized",
        )
        .header("authorization", &basic("wrong-key")),
        Case::new(
            "writeKey of wrong type",
            json!({"writeKey": 5, "batch": [track("bad-wk")]}).to_string(),
            400,
            "invalid_field",
        )
        .header("authorization", ""),
        Case::new(
            "unknown encoding",
            json!({"batch": [track("bad-br")]}).to_string(),
            415,
            "unsupported_encoding",
        )
        .header("content-encoding", "br"),
        Case::new(
            "unknown content type",
            json!({"batch": [track("bad-xml")]}).to_string(),
            415,
            "unsupported_media_type",
        )
        .header("content-type", "application/xml"),
        Case::new(
            "single event of wrong shape",
            json!({"userId": "u", "messageId": "bad-single"}).to_string(),
            400,
            "missing_event",
        )
        .path("/v1/track"),
    ]
}

#[test]
fn malformed_requests_get_their_status_and_reason_and_the_server_keeps_serving() {
    let c = start("bad-input", &[]);
    let cases = cases();
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for case in &cases {
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let reply = send(&c, "POST", case.path, &headers, case.body.clone());
        let v = reply.json();
        let got = if reply.status == 200 {
            assert_eq!(v["accepted"], 0, "{}: {}", case.name, reply.text);
            let rejected = v["rejected"].as_array().cloned().unwrap_or_default();
            assert_eq!(rejected.len(), 1, "{}: {}", case.name, reply.text);
            assert_eq!(rejected[0]["index"], 0, "{}", case.name);
            rejected[0]["reason"].as_str().unwrap_or("").to_owned()
        } else {
            assert_eq!(v["success"], false, "{}: {}", case.name, reply.text);
            assert!(
                v["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}",
                case.name
            );
            reply.error()
        };
        if (reply.status, got.as_str()) != (case.status, case.reason) {
            failures.push(format!(
                "{}: expected {} {}, got {} {} ({})",
                case.name,
                case.status,
                case.reason,
                reply.status,
                got,
                &reply.text[..reply.text.len().min(300)]
            ));
        }
        assert_eq!(
            get(&c, "/healthz", None).status,
            200,
            "alive after {}",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // None of them stored anything; the same server still takes a valid batch.
    assert!(feed_events(&c).is_empty(), "{:?}", feed_keys(&c));
    let body = json!({"batch": [track("good-1"), with("good-2", "userId", json!(42))]});
    let reply = post_json(&c, "/v1/batch", &body);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["accepted"], 2);
    assert_eq!(feed_keys(&c), ["good-1", "good-2"]);
    assert_eq!(
        stored(&c, "good-2")["userId"].as_str().map(str::len),
        Some(64),
        "numeric id kept as a string"
    );
    let text = metrics(&c);
    assert!(metric(&text, "cairn_events_rejected_total{reason=\"too_large\"}").unwrap() >= 2.0);
    assert_eq!(metric(&text, "cairn_events_accepted_total"), Some(2.0));
}
