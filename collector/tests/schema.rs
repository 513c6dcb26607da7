//! The documented event schema (docs/schema/event.schema.json, JSON Schema 2020-12) against
//! the real collector: every event record in the feed after a varied ingest conforms, the
//! events as sent conform, and documents the collector refuses do not.

mod api_support;

use api_support::*;
use cairn_testkit::{ADMIN_KEY, WRITE_KEY};
use jsonschema::Validator;
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("../../docs/schema/event.schema.json");

fn validator() -> Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    assert!(
        jsonschema::meta::is_valid(&schema),
        "the schema is a valid JSON Schema document"
    );
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

/// Validates feed records: the schema's `$defs.feedRecord`, whose event values refer
/// back to the event schema.
fn feed_validator() -> Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    let id = schema["$id"].as_str().expect("schema $id").to_owned();
    let wrapper = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"event": schema},
        "$ref": format!("{id}#/$defs/feedRecord"),
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&wrapper)
        .expect("feed record schema compiles")
}

fn errors(v: &Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Context as Cairn's SDKs send it.
fn cairn_context() -> Value {
    json!({
        "library": {"name": "cairn-rust", "version": "0.1.0"},
        "sessionId": "s-0193",
        "consent": {"analytics": true, "personalization": true, "marketing": false},
        "purpose": "analytics",
        "dropped": {"overflow": 2, "expired": 0, "rejected": 1, "too_large": 0},
        "device": {"type": "mobile"}, "os": {"name": "Android", "version": "15"},
        "app": {"version": "2.3.1"}, "locale": "en-GB", "timezone": "Europe/London",
        "screen": {"width": 1080, "height": 2400}, "referrer": {"url": "https://ref.example/"},
        "traits": {"email": "someone@example.com"}
    })
}

fn varied_batch() -> Value {
    json!({"sentAt": "2026-03-01T10:00:05.000Z", "context": {"ip": "127.0.0.1"}, "batch": [
        {"type": "track", "messageId": "s-track", "anonymousId": "anon-1", "event": "add_to_cart",
         "properties": {"sku": "b-1", "price": 12.5, "tags": ["a", "b"]},
         "timestamp": "2026-03-01T10:00:00.000Z", "context": cairn_context()},
        {"type": "track", "messageId": "s-numeric", "userId": 42, "event": "purchase",
         "properties": null, "integrations": {"All": true}},
        {"type": "page", "messageId": "s-page", "anonymousId": "anon-1", "name": "Home",
         "properties": {"path": "/", "url": "https://shop.example/"},
         "context": {"page": {"path": "/"}, "userAgent": "Mozilla/5.0"}},
        {"type": "screen", "messageId": "s-screen", "userId": "u-1", "name": "Cart",
         "context": {"sessionId": 1712345678, "consent": {"categoryPreferences": {"Analytics": true, "Advertising": false}}}},
        {"type": "identify", "messageId": "s-identify", "userId": "u-1", "anonymousId": "anon-1",
         "traits": {"email": "U1@Example.com", "phone": "+44 20 7946 0000", "plan": "pro"}},
        {"type": "alias", "messageId": "s-alias", "userId": "u-1", "previousId": "anon-1"},
        {"type": "group", "messageId": "s-group", "userId": "u-1", "groupId": "acme",
         "traits": {"name": "Acme", "employees": 10}},
        {"type": "track", "anonymousId": "anon-2", "event": "scroll_depth",
         "properties": {"percent": 75}, "context": null, "originalTimestamp": "2026-03-01T09:59:58+01:00"},
        {"type": "identify", "messageId": "s-hashed", "userId": "ab".repeat(32),
         "traits": {"Email": "cd".repeat(32)}, "context": {"hashed": ["userId", "traits.Email"]}},
        {"type": "track", "messageId": "s-consent", "anonymousId": "anon-2", "event": "consent_changed",
         "properties": {"analytics": false, "personalization": true, "marketing": false},
         "context": {"purpose": "consent", "consent": {"analytics": false}}}
    ]})
}

#[test]
fn every_stored_event_conforms_to_the_schema() {
    let v = validator();
    let c = start("schema-feed", &[]);
    let batch = varied_batch();
    for event in batch["batch"].as_array().unwrap() {
        assert_eq!(errors(&v, event), Vec::<String>::new(), "as sent: {event}");
    }
    let reply = post_json(&c, "/v1/batch", &batch);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["accepted"], 10, "{}", reply.text);

    // The single-event endpoints, one of them gzipped, and the beacon shape.
    let singles = [
        (
            "/v1/track",
            json!({"userId": "u-2", "event": "click", "properties": {"x": 1}}),
        ),
        (
            "/v1/page",
            json!({"anonymousId": "anon-3", "name": "Search"}),
        ),
        ("/v1/screen", json!({"anonymousId": "anon-3"})),
        (
            "/v1/identify",
            json!({"userId": "u-2", "traits": {"phone": "07700 900000"}}),
        ),
        (
            "/v1/alias",
            json!({"userId": "u-2", "previousId": "anon-3"}),
        ),
        ("/v1/group", json!({"anonymousId": "anon-3", "groupId": 7})),
    ];
    for (path, body) in &singles {
        let reply = post_json(&c, path, body);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
    let auth = basic(WRITE_KEY);
    let gz = json!({"userId": "u-3", "event": "video_play", "timestamp": "2026-03-01T10:00:00Z",
                    "sentAt": "2026-03-01T10:00:01Z"});
    let reply = send(
        &c,
        "POST",
        "/v1/track",
        &[("authorization", &auth), ("content-encoding", "gzip")],
        gzip(gz.to_string().as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let beacon = json!({"writeKey": WRITE_KEY, "batch": [
        {"type": "track", "anonymousId": "anon-4", "event": "quick_exit"}]});
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("content-type", "text/plain")],
        beacon.to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);

    let records = c.feed(0);
    assert_eq!(records.len(), 10 + singles.len() + 2);
    let feed = feed_validator();
    let mut types = std::collections::BTreeSet::new();
    for record in &records {
        assert_eq!(record["kind"], "event");
        assert!(record["cursor"].as_u64().is_some_and(|c| c > 0), "{record}");
        let event = &record["value"];
        assert_eq!(
            record["key"], event["messageId"],
            "the key is the messageId"
        );
        assert_eq!(errors(&v, event), Vec::<String>::new(), "stored: {event}");
        assert_eq!(
            errors(&feed, record),
            Vec::<String>::new(),
            "record: {record}"
        );
        // What the schema allows to be absent on input, a stored event always has.
        for field in ["messageId", "timestamp", "receivedAt", "type"] {
            assert!(event[field].is_string(), "stored {field}: {event}");
        }
        for id in ["userId", "anonymousId", "previousId", "groupId"] {
            let id_ok = !matches!(event.get(id), Some(value) if !value.is_string());
            assert!(id_ok, "ids are stored as strings: {event}");
        }
        types.insert(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(types.len(), 6, "all six types were checked: {types:?}");

    // Tombstones keep their own shape in the same feed.
    let admin = bearer(ADMIN_KEY);
    let reply = send(
        &c,
        "DELETE",
        "/v1/users/u-1",
        &[("authorization", &admin)],
        Vec::new(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let records = c.feed(0);
    let tombstone = records.last().unwrap();
    assert_eq!(tombstone["kind"], "tombstone");
    assert!(is_hash(&tombstone["key"]));
    let value = &tombstone["value"];
    assert!(
        value["deletedEvents"].as_u64().is_some_and(|n| n > 0),
        "{value}"
    );
    assert!(value["identities"].as_array().unwrap().iter().all(is_hash));
    assert_eq!(value["userId"], tombstone["key"]);
    assert!(value["deletedAt"].is_string());
    assert_eq!(
        errors(&feed, tombstone),
        Vec::<String>::new(),
        "{tombstone}"
    );
    let mut with_source = tombstone.clone();
    with_source["source"] = json!("web");
    assert!(
        !feed.is_valid(&with_source),
        "a tombstone carries no source"
    );
    let mut event = records[0].clone();
    event.as_object_mut().unwrap().remove("source");
    assert!(!feed.is_valid(&event), "an event record names its source");
    let mut event = records[0].clone();
    event["value"]["type"] = json!("teleport");
    assert!(
        !feed.is_valid(&event),
        "an event record's value is an event"
    );
}

#[test]
fn documents_the_collector_refuses_do_not_conform() {
    let v = validator();
    let c = start("schema-invalid", &[]);
    let base = json!({"type": "track", "event": "e", "anonymousId": "a"});
    assert!(v.is_valid(&base));
    let with = |patch: Value| {
        let mut doc = base.clone();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                doc.as_object_mut().unwrap().remove(k);
            } else {
                doc[k] = val.clone();
            }
        }
        doc
    };
    // (document, the reason the collector gives, or None where only the schema is stricter)
    let cases = [
        (with(json!({"type": null})), Some("missing_type")),
        (with(json!({"type": "teleport"})), Some("invalid_type")),
        (with(json!({"event": null})), Some("missing_event")),
        (with(json!({"event": ""})), Some("missing_event")),
        (with(json!({"anonymousId": null})), Some("missing_id")),
        (with(json!({"anonymousId": " "})), Some("missing_id")),
        (with(json!({"userId": {"id": 1}})), Some("invalid_id")),
        (with(json!({"messageId": 42})), Some("invalid_message_id")),
        (with(json!({"properties": [1, 2]})), Some("invalid_field")),
        (with(json!({"context": "web"})), Some("invalid_field")),
        (with(json!({"name": 3})), Some("invalid_field")),
        (
            with(json!({"timestamp": "yesterday"})),
            Some("invalid_timestamp"),
        ),
        (
            with(json!({"sentAt": 1700000000})),
            Some("invalid_timestamp"),
        ),
        (
            json!({"type": "alias", "userId": "u"}),
            Some("missing_previous_id"),
        ),
        (
            json!({"type": "alias", "previousId": "p", "anonymousId": "a"}),
            Some("missing_previous_id"),
        ),
        (
            json!({"type": "group", "userId": "u"}),
            Some("missing_group_id"),
        ),
        (json!("not an object"), Some("not_an_object")),
        (
            with(json!({"context": {"consent": {"analytics": "yes"}}})),
            Some("consent"),
        ),
        (
            with(json!({"context": {"dropped": {"overflow": -1}}})),
            None,
        ),
        (with(json!({"context": {"sessionId": 1.5}})), None),
        (
            with(json!({"context": {"hashed": ["anonymousId"]}})),
            Some("invalid_hashed"),
        ),
        (
            with(json!({"context": {"purpose": "consent"}})),
            Some("invalid_purpose"),
        ),
        (
            with(
                json!({"event": "consent_changed", "context": {"purpose": "consent"},
                "properties": {"analytics": true, "personalization": true, "marketing": true, "x": 1}}),
            ),
            Some("invalid_consent_record"),
        ),
    ];
    for (doc, reason) in &cases {
        assert!(!v.is_valid(doc), "the schema accepts {doc}");
        let reply = post_json(&c, "/v1/batch", &json!({"batch": [doc]}));
        assert_eq!(reply.status, 200, "{}", reply.text);
        let got = reply.json()["rejected"][0]["reason"].clone();
        match reason {
            Some(reason) => assert_eq!(got, *reason, "{doc}"),
            None => assert_eq!(reply.json()["accepted"], 1, "{doc}: {}", reply.text),
        }
    }
}
