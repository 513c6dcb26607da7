//! Every endpoint and every error of the collector's HTTP API, against the real binary on
//! a loopback port. Each test asserts what a client sees: status, reason code, headers,
//! and what the feed then holds.

mod api_support;

use std::{
    sync::mpsc,
    time::{Duration, Instant},
};

use api_support::*;
use cairn_testkit::{stored_user_id, ADMIN_KEY, READ_KEY, SERVER_WRITE_KEY, WRITE_KEY};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

fn track(id: &str) -> Value {
    json!({"type": "track", "event": "Item Viewed", "anonymousId": "anon-1",
           "messageId": id, "properties": {"sku": "sku-1"}})
}

#[test]
fn each_endpoint_stores_an_event_of_its_type() {
    let c = start("api-endpoints", &[]);
    let singles = [
        (
            "/v1/track",
            json!({"messageId": "t-1", "userId": "u1", "event": "Clicked"}),
        ),
        (
            "/v1/page",
            json!({"messageId": "p-1", "anonymousId": "a1", "name": "Home"}),
        ),
        (
            "/v1/screen",
            json!({"messageId": "s-1", "anonymousId": "a1", "name": "Cart"}),
        ),
        (
            "/v1/identify",
            json!({"messageId": "i-1", "userId": "u1", "traits": {"plan": "pro"}}),
        ),
        (
            "/v1/alias",
            json!({"messageId": "a-1", "userId": "u1", "previousId": "a1"}),
        ),
        (
            "/v1/group",
            json!({"messageId": "g-1", "userId": "u1", "groupId": "acme"}),
        ),
    ];
    for (path, body) in &singles {
        let reply = post_json(&c, path, body);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert_eq!(reply.json()["success"], true, "{path}");
        assert_eq!(reply.json()["accepted"], 1, "{path}");
    }
    let batch = json!({"batch": [
        {"type": "track", "messageId": "b-t", "userId": "u2", "event": "Purchased"},
        {"type": "page", "messageId": "b-p", "userId": "u2"},
        {"type": "screen", "messageId": "b-s", "userId": "u2"},
        {"type": "identify", "messageId": "b-i", "userId": "u2"},
        {"type": "alias", "messageId": "b-a", "userId": "u2", "previousId": "x"},
        {"type": "group", "messageId": "b-g", "userId": "u2", "groupId": "g"}
    ]});
    let reply = post_json(&c, "/v1/batch", &batch);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["accepted"], 6);
    assert_eq!(reply.json()["rejected"], json!([]));

    let expected = [
        ("t-1", "track"),
        ("p-1", "page"),
        ("s-1", "screen"),
        ("i-1", "identify"),
        ("a-1", "alias"),
        ("g-1", "group"),
        ("b-t", "track"),
        ("b-p", "page"),
        ("b-s", "screen"),
        ("b-i", "identify"),
        ("b-a", "alias"),
        ("b-g", "group"),
    ];
    let events = feed_events(&c);
    assert_eq!(events.len(), expected.len());
    for ((id, kind), record) in expected.iter().zip(&events) {
        assert_eq!(record["key"], *id);
        assert_eq!(record["value"]["messageId"], *id);
        assert_eq!(record["value"]["type"], *kind, "{record}");
        assert!(record["cursor"].as_u64().unwrap() > 0);
    }
    // Cursors are strictly increasing: the feed is in commit order.
    let cursors: Vec<u64> = events
        .iter()
        .map(|r| r["cursor"].as_u64().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(stored(&c, "p-1")["name"], "Home");
    assert_eq!(stored(&c, "g-1")["groupId"], "acme");
}

#[test]
fn write_key_as_basic_user_or_in_the_body() {
    let c = start("api-keys", &[]);
    // Basic user name with an empty password, as Segment's libraries send it.
    let reply = post_json(&c, "/v1/batch", &json!({"batch": [track("basic")]}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    // writeKey in the body of a batch, no Authorization header.
    let body = json!({"writeKey": WRITE_KEY, "batch": [track("body-batch")]});
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("content-type", "application/json")],
        body.to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    // writeKey in the body of a single-event call.
    let mut single = track("body-track");
    single["writeKey"] = json!(WRITE_KEY);
    let reply = send(
        &c,
        "POST",
        "/v1/track",
        &[("content-type", "application/json")],
        single.to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);

    assert_eq!(feed_keys(&c), ["basic", "body-batch", "body-track"]);
    for id in ["body-batch", "body-track"] {
        assert!(
            stored(&c, id).get("writeKey").is_none(),
            "the write key is not stored"
        );
    }
}

#[test]
fn text_plain_beacon_and_gzip_bodies() {
    let c = start("api-beacon-gzip", &[]);
    // navigator.sendBeacon: text/plain, no custom headers, key in the body.
    let beacon = json!({"writeKey": WRITE_KEY, "batch": [track("beacon")]});
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("content-type", "text/plain;charset=UTF-8")],
        beacon.to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);

    let auth = basic(WRITE_KEY);
    let body = json!({"batch": [track("gz-1"), track("gz-2")]});
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        gzip(body.to_string().as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["accepted"], 2);
    assert_eq!(feed_keys(&c), ["beacon", "gz-1", "gz-2"]);
    assert_eq!(stored(&c, "gz-2")["properties"]["sku"], "sku-1");
}

#[test]
fn cors_preflight_and_simple_request() {
    let c = start("api-cors", &[]);
    let reply = send(
        &c,
        "OPTIONS",
        "/v1/batch",
        &[
            ("origin", "https://shop.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type,content-encoding",
            ),
        ],
        Vec::new(),
    );
    assert!(
        (200..300).contains(&reply.status),
        "preflight: {}",
        reply.status
    );
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let methods = reply
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = reply
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "content-encoding"] {
        assert!(allowed.contains(h), "{h} not in {allowed}");
    }
    assert!(feed_events(&c).is_empty(), "a preflight stores nothing");

    let auth = basic(WRITE_KEY);
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[
            ("origin", "https://shop.example"),
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        json!({"batch": [track("cors-1")]}).to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(feed_keys(&c), ["cors-1"]);
}

#[test]
fn batch_is_accepted_per_event() {
    let c = start("api-partial", &[]);
    let body = json!({"batch": [
        track("good-1"),
        {"type": "teleport", "messageId": "bad-type", "userId": "u"},
        track("good-2"),
        7,
        {"type": "track", "messageId": "bad-noid", "event": "x"}
    ]});
    let reply = post_json(&c, "/v1/batch", &body);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let v = reply.json();
    assert_eq!(v["accepted"], 2);
    let rejected = v["rejected"].as_array().expect("rejected list");
    let summary: Vec<(u64, Value, &str)> = rejected
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["messageId"].clone(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, json!("bad-type"), "invalid_type"),
            (3, Value::Null, "not_an_object"),
            (4, json!("bad-noid"), "missing_id"),
        ]
    );
    assert!(rejected
        .iter()
        .all(|r| r["message"].as_str().is_some_and(|m| !m.is_empty())));
    assert_eq!(feed_keys(&c), ["good-1", "good-2"]);
}

#[test]
fn wrong_or_missing_write_key_is_401() {
    let c = start("api-401", &[]);
    let body = json!({"batch": [track("nope-1")]}).to_string();
    let wrong = basic("not-a-key");
    let read = basic(READ_KEY);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
    let cases: [Case; 4] = [
        ("wrong basic", vec![("authorization", &wrong)], body.clone()),
        (
            "read key is not a write key",
            vec![("authorization", &read)],
            body.clone(),
        ),
        ("no key at all", vec![], body.clone()),
        (
            "wrong key in body",
            vec![],
            json!({"writeKey": "not-a-key", "batch": [track("nope-2")]}).to_string(),
        ),
    ];
    for (name, headers, body) in cases {
        let reply = send(&c, "POST", "/v1/batch", &headers, body);
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
        assert_eq!(reply.error(), "unauthorized", "{name}");
        assert_eq!(reply.json()["success"], false, "{name}");
        assert!(reply.header("www-authenticate").is_some(), "{name}");
    }
    // A wrong header key is not rescued by a right key in the body.
    let body = json!({"writeKey": WRITE_KEY, "batch": [track("nope-3")]}).to_string();
    let reply = send(&c, "POST", "/v1/batch", &[("authorization", &wrong)], body);
    assert_eq!(reply.status, 401);
    assert!(feed_events(&c).is_empty());
}

#[test]
fn body_over_500_kb_is_413_and_nothing_is_stored() {
    let c = start("api-413", &[]);
    // 20 events of ~27 KB each: every event is within 32 KB, the batch is not.
    let pad = "x".repeat(27 * 1024);
    let events: Vec<Value> = (0..20)
        .map(|i| {
            json!({"type": "track", "event": "Big", "anonymousId": "a",
                        "messageId": format!("big-{i}"), "properties": {"pad": pad}})
        })
        .collect();
    let body = json!({"batch": events}).to_string();
    assert!(body.len() > 500 * 1024);
    let auth = basic(WRITE_KEY);
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("authorization", &auth)],
        body.clone(),
    );
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.error(), "too_large");
    // The same body gzipped is small on the wire but over the limit once inflated.
    let compressed = gzip(body.as_bytes());
    assert!(compressed.len() < 50 * 1024);
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("authorization", &auth), ("content-encoding", "gzip")],
        compressed,
    );
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.error(), "too_large");
    assert!(
        feed_events(&c).is_empty(),
        "nothing of a 413 body is stored"
    );
    // Its first event alone is new to the store: not a duplicate.
    let reply = post_json(&c, "/v1/batch", &json!({"batch": [events[0]]}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["duplicates"], 0);
    assert_eq!(feed_keys(&c), ["big-0"]);
}

#[test]
fn unknown_encoding_or_content_type_is_415() {
    let c = start("api-415", &[]);
    let auth = basic(WRITE_KEY);
    let body = json!({"batch": [track("enc-1")]}).to_string();
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ],
        body.clone(),
    );
    assert_eq!(reply.status, 415, "{}", reply.text);
    assert_eq!(reply.error(), "unsupported_encoding");
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[
            ("authorization", &auth),
            ("content-type", "application/xml"),
        ],
        body,
    );
    assert_eq!(reply.status, 415, "{}", reply.text);
    assert_eq!(reply.error(), "unsupported_media_type");
    assert!(feed_events(&c).is_empty());
}

#[test]
fn event_over_32_kb_is_rejected_per_event() {
    let c = start("api-32k", &[]);
    let big = json!({"type": "track", "event": "Big", "anonymousId": "a", "messageId": "too-big",
                     "properties": {"pad": "y".repeat(33 * 1024)}});
    let reply = post_json(&c, "/v1/batch", &json!({"batch": [big, track("small")]}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let v = reply.json();
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"][0]["index"], 0);
    assert_eq!(v["rejected"][0]["messageId"], "too-big");
    assert_eq!(v["rejected"][0]["reason"], "too_large");
    assert_eq!(feed_keys(&c), ["small"]);
    // On a single-event endpoint the one event's refusal is the request's.
    let reply = post_json(&c, "/v1/track", &big);
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.error(), "too_large");
    assert_eq!(feed_keys(&c), ["small"]);
}

#[test]
fn same_message_id_is_stored_once() {
    let c = start("api-dedup", &[]);
    let first = post_json(&c, "/v1/batch", &json!({"batch": [track("dup-1")]}));
    assert_eq!(first.status, 200);
    assert_eq!(
        (
            first.json()["accepted"].clone(),
            first.json()["duplicates"].clone()
        ),
        (json!(1), json!(0))
    );
    // A retry of the same message is acknowledged as accepted and counted as a duplicate.
    let again = post_json(
        &c,
        "/v1/batch",
        &json!({"batch": [track("dup-1"), track("dup-2")]}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["accepted"], 2);
    assert_eq!(again.json()["duplicates"], 1);
    // Twice inside one batch, and again through a single-event endpoint.
    let inside = post_json(
        &c,
        "/v1/batch",
        &json!({"batch": [track("dup-3"), track("dup-3")]}),
    );
    assert_eq!(inside.json()["duplicates"], 1);
    let single = post_json(&c, "/v1/track", &track("dup-3"));
    assert_eq!(single.status, 200);
    assert_eq!(single.json()["duplicates"], 1);
    assert_eq!(feed_keys(&c), ["dup-1", "dup-2", "dup-3"]);
}

#[test]
fn dedup_is_per_write_key() {
    let c = start("api-dedup-keys", &["--write-key", "other-write-key"]);
    let body = json!({"batch": [track("shared-id")]}).to_string();
    let mine = basic(WRITE_KEY);
    let other = basic("other-write-key");
    for auth in [&mine, &other] {
        let reply = send(
            &c,
            "POST",
            "/v1/batch",
            &[("authorization", auth)],
            body.clone(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.json()["duplicates"],
            0,
            "a messageId of another write key is new"
        );
    }
    let reply = send(&c, "POST", "/v1/batch", &[("authorization", &other)], body);
    assert_eq!(reply.json()["duplicates"], 1);
    assert_eq!(feed_keys(&c), ["shared-id", "shared-id"]);
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not a date-time: {v}"))
        .with_timezone(&Utc)
}

#[test]
fn clock_skew_is_corrected_with_sent_at() {
    let c = start("api-skew", &[]);
    let before = Utc::now() - chrono::Duration::milliseconds(1);
    // The client's clock is years behind: it stamped events in 2020.
    let body = json!({"sentAt": "2020-01-01T00:00:10Z", "batch": [
        {"type": "track", "event": "e", "anonymousId": "a", "messageId": "skew-batch",
         "timestamp": "2020-01-01T00:00:00Z"},
        {"type": "track", "event": "e", "anonymousId": "a", "messageId": "skew-event",
         "timestamp": "2020-01-01T00:00:00+01:00", "sentAt": "2020-01-01T00:01:00+01:00"},
        {"type": "track", "event": "e", "anonymousId": "a", "messageId": "no-timestamp"}
    ]});
    let reply = post_json(&c, "/v1/batch", &body);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let after = Utc::now();

    let e = stored(&c, "skew-batch");
    let received = time(&e["receivedAt"]);
    assert!(
        received >= before && received <= after,
        "receivedAt {received} is the server's clock"
    );
    assert_eq!(e["originalTimestamp"], "2020-01-01T00:00:00.000Z");
    assert_eq!(
        time(&e["timestamp"]),
        received - chrono::Duration::seconds(10)
    );

    let e = stored(&c, "skew-event");
    assert_eq!(e["originalTimestamp"], "2019-12-31T23:00:00.000Z");
    assert_eq!(
        time(&e["timestamp"]),
        time(&e["receivedAt"]) - chrono::Duration::seconds(60)
    );

    let e = stored(&c, "no-timestamp");
    assert_eq!(e["timestamp"], e["receivedAt"]);
    assert!(e.get("originalTimestamp").is_none());

    // Without sentAt there is nothing to correct with: the client's timestamp stands.
    let mut single = track("no-sent-at");
    single["timestamp"] = json!("2021-06-01T12:00:00Z");
    assert_eq!(post_json(&c, "/v1/track", &single).status, 200);
    let e = stored(&c, "no-sent-at");
    assert_eq!(e["timestamp"], "2021-06-01T12:00:00.000Z");
    assert_eq!(e["originalTimestamp"], "2021-06-01T12:00:00.000Z");
    assert!(e["receivedAt"].is_string());
}

#[test]
fn consent_is_enforced_per_event() {
    let c = start("api-consent", &[]);
    let with = |id: &str, context: Value| json!({"type": "track", "event": "e", "anonymousId": "a", "messageId": id, "context": context});
    let body = json!({"batch": [
        with("refused", json!({"consent": {"analytics": false}})),
        with("granted", json!({"consent": {"analytics": true, "marketing": false}})),
        with("absent", json!({"locale": "en-GB"})),
        with("segment-granted", json!({"consent": {"categoryPreferences": {"Analytics": true}}})),
        with("segment-refused", json!({"consent": {"categoryPreferences": {"Analytics": false, "Advertising": true}}})),
        with("purpose-refused", json!({"purpose": "marketing", "consent": {"analytics": true, "marketing": false}})),
        with("purpose-granted", json!({"purpose": "personalization", "consent": {"personalization": true}})),
        with("purpose-missing", json!({"consent": {"marketing": true}}))
    ]});
    let reply = post_json(&c, "/v1/batch", &body);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let refused: Vec<(Value, Value)> = reply.json()["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["messageId"].clone(), r["reason"].clone()))
        .collect();
    assert_eq!(
        refused,
        [
            (json!("refused"), json!("consent")),
            (json!("segment-refused"), json!("consent")),
            (json!("purpose-refused"), json!("consent")),
            (json!("purpose-missing"), json!("consent")),
        ]
    );
    assert_eq!(
        feed_keys(&c),
        ["granted", "absent", "segment-granted", "purpose-granted"]
    );
    // A single-event call without consent is refused with the same reason.
    let reply = post_json(
        &c,
        "/v1/track",
        &with("single", json!({"consent": {"analytics": false}})),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "consent");
    let text = metrics(&c);
    assert_eq!(
        metric(&text, "cairn_events_rejected_total{reason=\"consent\"}"),
        Some(5.0)
    );
}

#[test]
fn feed_long_polls_and_needs_the_read_key() {
    let c = start("api-feed", &[]);
    for auth in [None, Some(basic(WRITE_KEY)), Some(bearer("wrong"))] {
        let reply = get(&c, "/v1/feed", auth.as_deref());
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(reply.error(), "unauthorized");
    }
    assert_eq!(
        post_json(&c, "/v1/batch", &json!({"batch": [track("first")]})).status,
        200
    );
    let reader = bearer(READ_KEY);
    let reply = get(&c, "/v1/feed?after=0", Some(&reader));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let line: Value = serde_json::from_str(reply.text.lines().next().unwrap()).unwrap();
    assert_eq!(
        (line["kind"].clone(), line["key"].clone()),
        (json!("event"), json!("first"))
    );
    // The read key also works as a Basic user name; the admin key may read too.
    assert_eq!(get(&c, "/v1/feed", Some(&basic(READ_KEY))).status, 200);
    assert_eq!(get(&c, "/v1/feed", Some(&bearer(ADMIN_KEY))).status, 200);

    let last = last_cursor(&c);
    // Nothing new: the long poll waits its time and returns an empty page.
    let started = Instant::now();
    let reply = get(&c, &format!("/v1/feed?after={last}&wait=1"), Some(&reader));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "returned before its wait"
    );

    // A long poll issued before the post returns the new event as soon as it is durable.
    let (issued_tx, issued_rx) = mpsc::channel();
    let poll = {
        let path = format!("/v1/feed?after={last}&wait=20");
        let mut stream = raw_get(&c, &path, &reader);
        std::thread::spawn(move || {
            issued_tx.send(Instant::now()).unwrap();
            read_raw(&mut stream)
        })
    };
    let issued = issued_rx.recv().unwrap();
    assert_eq!(
        post_json(&c, "/v1/batch", &json!({"batch": [track("second")]})).status,
        200
    );
    let (status, body) = poll.join().unwrap();
    assert_eq!(status, 200);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["key"], "second");
    assert_eq!(lines[0]["cursor"].as_u64().unwrap(), last + 1);
    assert!(
        issued.elapsed() < Duration::from_secs(15),
        "woke on the commit, not the timeout"
    );

    // limit pages the feed; a cursor past the end is an empty page.
    let reply = get(&c, "/v1/feed?after=0&limit=1", Some(&reader));
    assert_eq!(reply.text.lines().count(), 1);
    assert_eq!(get(&c, "/v1/feed?after=999", Some(&reader)).text, "");
}

#[test]
fn delete_user_removes_linked_events_and_appends_a_tombstone() {
    let c = start("api-delete", &[]);
    let ev = |id: &str, extra: Value| {
        let mut e = json!({"messageId": id});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    };
    let body = json!({"batch": [
        // Before logging in, alice browses as anon-A.
        ev("a-anon-1", json!({"type": "page", "anonymousId": "anon-A", "name": "Home"})),
        ev("a-anon-2", json!({"type": "track", "anonymousId": "anon-A", "event": "Clicked"})),
        // identify ties anon-A to alice.
        ev("a-identify", json!({"type": "identify", "anonymousId": "anon-A", "userId": "alice"})),
        ev("a-user", json!({"type": "track", "userId": "alice", "event": "Purchased"})),
        // Her older id on another device, tied by alias.
        ev("a-old-1", json!({"type": "track", "anonymousId": "legacy-7", "event": "Viewed"})),
        ev("a-old-2", json!({"type": "track", "userId": "legacy-7", "event": "Viewed"})),
        ev("a-alias", json!({"type": "alias", "previousId": "legacy-7", "userId": "alice"})),
        // Bob is someone else.
        ev("b-user", json!({"type": "track", "userId": "bob", "event": "Purchased"})),
        ev("b-anon", json!({"type": "page", "anonymousId": "anon-B"})),
        ev("b-identify", json!({"type": "identify", "anonymousId": "anon-B", "userId": "bob"}))
    ]});
    // From the backend: only a server key's alias links two user ids.
    let reply = post_json_as(&c, SERVER_WRITE_KEY, "/v1/batch", &body);
    assert_eq!(reply.json()["accepted"], 10, "{}", reply.text);

    for auth in [
        None,
        Some(basic(WRITE_KEY)),
        Some(bearer(READ_KEY)),
        Some(bearer("nope")),
    ] {
        let reply = match &auth {
            Some(a) => send(
                &c,
                "DELETE",
                "/v1/users/alice",
                &[("authorization", a)],
                Vec::new(),
            ),
            None => send(&c, "DELETE", "/v1/users/alice", &[], Vec::new()),
        };
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(reply.error(), "unauthorized");
    }
    assert_eq!(
        feed_events(&c).len(),
        10,
        "a refused deletion deletes nothing"
    );

    let admin = bearer(ADMIN_KEY);
    let reply = send(
        &c,
        "DELETE",
        "/v1/users/alice",
        &[("authorization", &admin)],
        Vec::new(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json();
    assert_eq!(answer["deletedEvents"], 7);
    assert!(
        is_hash(&answer["userId"]),
        "the tombstone names the pseudonymised user"
    );

    assert_eq!(feed_keys(&c), ["b-user", "b-anon", "b-identify"]);
    let records = c.feed(0);
    let tombstone = records.last().unwrap();
    assert_eq!(tombstone["kind"], "tombstone");
    assert_eq!(tombstone["key"], answer["userId"]);
    assert_eq!(tombstone["cursor"], answer["tombstoneCursor"]);
    assert_eq!(tombstone["value"]["userId"], answer["userId"]);
    assert_eq!(tombstone["value"]["deletedEvents"], 7);
    assert!(tombstone["value"]["deletedAt"].is_string());
    // Alice, anon-A, and legacy-7 both as a user id and as an anonymous id.
    assert_eq!(
        tombstone["value"]["identities"].as_array().unwrap().len(),
        4
    );
    assert!(tombstone.get("source").is_none());
    assert_eq!(answer["userId"], stored_user_id("alice"));

    // Deleting again finds nothing more, but still records that it was asked.
    let reply = send(
        &c,
        "DELETE",
        "/v1/users/alice",
        &[("authorization", &basic(ADMIN_KEY))],
        Vec::new(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["deletedEvents"], 0);
    let kinds: Vec<Value> = c.feed(0).iter().map(|r| r["kind"].clone()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "tombstone").count(), 2);
}

#[test]
fn probes_and_metrics() {
    let c = start("api-ops", &[]);
    let reply = get(&c, "/healthz", None);
    assert_eq!(reply.status, 200);
    let reply = get(&c, "/readyz", None);
    assert_eq!(reply.status, 200);

    let body = json!({"batch": [track("m-1"), track("m-1"), {"type": "nope", "userId": "u"}]});
    assert_eq!(post_json(&c, "/v1/batch", &body).status, 200);
    let wrong = basic("wrong");
    assert_eq!(
        send(&c, "POST", "/v1/batch", &[("authorization", &wrong)], "{}").status,
        401
    );

    let reply = get(&c, "/metrics", None);
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text;
    assert_eq!(
        metric(&text, "cairn_events_accepted_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "cairn_events_duplicate_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "cairn_events_rejected_total{reason=\"invalid_type\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "cairn_events_rejected_total{reason=\"unauthorized\"}"
        ),
        Some(1.0)
    );
    // The flush histogram saw the one commit group. (cairn_request_duration_seconds is
    // registered but not yet observed per route; the lead adds that middleware.)
    assert!(
        text.contains("# TYPE cairn_flush_duration_seconds histogram"),
        "{text}"
    );
    assert!(metric(&text, "cairn_flush_duration_seconds_count").unwrap() >= 1.0);
    assert!(text.contains("cairn_flush_duration_seconds_bucket{le=\"+Inf\"}"));
    assert_eq!(metric(&text, "cairn_inflight_bytes"), Some(0.0), "{text}");
}

/// A batch of one event whose JSON is exactly `len` bytes.
fn batch_of_len(id: &str, len: usize) -> Vec<u8> {
    let make = |pad: usize| {
        json!({"batch": [{"type": "track", "event": "Slow", "anonymousId": "a", "messageId": id,
                          "properties": {"pad": "p".repeat(pad)}}]})
        .to_string()
    };
    let base = make(0).len();
    let body = make(len - base);
    assert_eq!(body.len(), len);
    body.into_bytes()
}

#[test]
fn overload_is_shed_with_503_and_retry_after() {
    let c = start("api-overload", &["--max-inflight-bytes", "2048"]);
    let auth = basic(WRITE_KEY);
    // A slow client holds the whole in-flight budget: it declared 2,000 bytes and sent 100.
    let slow = HeldRequest::start(&c, "/v1/batch", &auth, &batch_of_len("slow", 2000), 100);
    await_metric(&c, "cairn_inflight_bytes", |v| v == 2000.0);

    let reply = post_json(&c, "/v1/batch", &json!({"batch": [track("shed")]}));
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.error(), "overloaded");
    assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
    assert_eq!(
        metric(
            &metrics(&c),
            "cairn_events_rejected_total{reason=\"overloaded\"}"
        ),
        Some(1.0)
    );

    // Once the slow request completes, its event is stored and the budget is free again.
    let (status, body) = slow.finish();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    await_metric(&c, "cairn_inflight_bytes", |v| v == 0.0);
    let reply = post_json(&c, "/v1/batch", &json!({"batch": [track("shed")]}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(feed_keys(&c), ["slow", "shed"]);
}

#[test]
fn sigterm_finishes_in_flight_requests_and_keeps_acknowledged_events() {
    let mut c = start("api-sigterm", &[]);
    for i in 0..5 {
        let reply = post_json(
            &c,
            "/v1/batch",
            &json!({"batch": [track(&format!("acked-{i}"))]}),
        );
        assert_eq!(reply.status, 200);
    }
    // A request in flight when SIGTERM arrives is finished, not cut off.
    let auth = basic(WRITE_KEY);
    let slow = HeldRequest::start(&c, "/v1/batch", &auth, &batch_of_len("in-flight", 1500), 10);
    await_metric(&c, "cairn_inflight_bytes", |v| v == 1500.0);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &c.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, body) = slow.finish();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);

    let exit = c.terminate();
    assert_eq!(exit.code(), Some(0), "clean exit after SIGTERM: {exit:?}");
    c.restart();
    let keys = feed_keys(&c);
    let expected: Vec<String> = (0..5)
        .map(|i| format!("acked-{i}"))
        .chain(["in-flight".to_owned()])
        .collect();
    assert_eq!(keys, expected);
}
