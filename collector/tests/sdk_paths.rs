//! The paths browser SDKs post to besides the long Segment ones, against the real binary:
//! analytics-next's short paths (`/v1/<first letter of the type>`, `/v1/b` for its
//! batching dispatcher) must behave exactly as their long forms, and RudderStack's beacon
//! path (`/beacon/v1/batch?writeKey=<key>`) as `/v1/batch` with the query key standing
//! where an Authorization header would, a key that is never logged.
//! segment_browser.rs and rudderstack_browser.rs post to them with the real SDKs.

mod api_support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use api_support::*;
use cairn_testkit::{
    temp_dir, CollectorProcess, SERVER_WRITE_KEY, SERVER_WRITE_KEY_SOURCE, WRITE_KEY,
    WRITE_KEY_SOURCE,
};
use serde_json::{json, Value};

/// Each short path, its long form, an event it stores and one it refuses (no id).
fn singles() -> [(&'static str, &'static str, Value); 6] {
    [
        ("/v1/t", "/v1/track", json!({"event": "Clicked"})),
        ("/v1/p", "/v1/page", json!({"name": "Home"})),
        ("/v1/s", "/v1/screen", json!({"name": "Cart"})),
        ("/v1/i", "/v1/identify", json!({"traits": {"plan": "pro"}})),
        ("/v1/a", "/v1/alias", json!({"previousId": "anon-0"})),
        ("/v1/g", "/v1/group", json!({"groupId": "acme"})),
    ]
}

fn with(event: &Value, fields: Value) -> Value {
    let mut event = event.clone();
    for (k, v) in fields.as_object().expect("fields") {
        event[k] = v.clone();
    }
    event
}

fn beacon(c: &CollectorProcess, query: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut all = vec![("content-type", "text/plain;charset=UTF-8")];
    all.extend_from_slice(headers);
    send(
        c,
        "POST",
        &format!("/beacon/v1/batch{query}"),
        &all,
        body.to_string(),
    )
}

fn track(id: &str) -> Value {
    json!({"type": "track", "event": "Item Viewed", "anonymousId": "anon-1", "messageId": id})
}

#[test]
fn segment_short_paths_are_their_long_forms() {
    let c = start("sdk-short-paths", &[]);
    for (short, long, event) in singles() {
        let kind = long.trim_start_matches("/v1/");
        // Stored with the type its path sets.
        let id = format!("{kind}-short");
        let body = with(&event, json!({"messageId": id, "userId": "u1"}));
        let reply = post_json(&c, short, &body);
        assert_eq!(reply.status, 200, "{short}: {}", reply.text);
        assert_eq!(reply.json()["accepted"], 1, "{short}");
        assert_eq!(stored(&c, &id)["type"], kind, "{short}");
        // Refused as its long form refuses it: same status, same reason.
        let bad = with(&event, json!({"messageId": format!("{kind}-bad")}));
        let (short_reply, long_reply) = (post_json(&c, short, &bad), post_json(&c, long, &bad));
        assert_eq!(short_reply.status, 400, "{short}: {}", short_reply.text);
        assert_eq!(
            (short_reply.status, short_reply.error()),
            (long_reply.status, long_reply.error()),
            "{short} as {long}"
        );
    }

    // /v1/b: analytics-next's batches, `{writeKey, batch, sentAt}` with the key in the
    // header too; a refused event is listed as /v1/batch lists it, the rest stored.
    let batch = |good: &str| {
        json!({"writeKey": WRITE_KEY, "sentAt": "2026-12-07T10:00:00.000Z", "batch": [
            track(good),
            {"type": "track", "anonymousId": "anon-1", "messageId": "no-event"},
        ]})
    };
    let (b, long) = (
        post_json(&c, "/v1/b", &batch("b-1")),
        post_json(&c, "/v1/batch", &batch("batch-1")),
    );
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(b.json()["accepted"], 1, "{}", b.text);
    assert_eq!(b.json()["rejected"], long.json()["rejected"]);
    assert_eq!(b.json()["rejected"][0]["reason"], "missing_event");
    // Its key in the body alone (a sendBeacon of the same body) is enough, as on /v1/batch.
    let reply = send(
        &c,
        "POST",
        "/v1/b",
        &[("content-type", "text/plain")],
        json!({"writeKey": WRITE_KEY, "batch": [track("b-2")]}).to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    // And a wrong header key is 401 there as anywhere.
    let reply = post_json_as(&c, "not-a-key", "/v1/b", &json!({"batch": [track("b-3")]}));
    assert_eq!(reply.status, 401, "{}", reply.text);

    let mut keys = feed_keys(&c);
    keys.sort();
    let mut expected: Vec<String> = singles()
        .iter()
        .map(|(_, long, _)| format!("{}-short", long.trim_start_matches("/v1/")))
        .chain(["b-1", "batch-1", "b-2"].map(String::from))
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "exactly the accepted events are stored");
}

#[test]
fn beacon_path_takes_the_write_key_from_the_query() {
    let c = start("sdk-beacon-query", &[]);
    let query = format!("?writeKey={WRITE_KEY}");
    let ok = |reply: &Reply| assert_eq!(reply.status, 200, "{}", reply.text);
    let unauthorized = |reply: &Reply| {
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(reply.error(), "unauthorized");
        assert!(reply.header("www-authenticate").is_some(), "{reply:?}");
    };

    // RudderStack's beacon: text/plain `{batch, sentAt}`, no header, the key in the query.
    let body = json!({"batch": [track("q-1")], "sentAt": "2026-12-07T10:00:00.000Z"});
    let reply = beacon(&c, &query, &[], &body);
    ok(&reply);
    assert_eq!(reply.json()["accepted"], 1);
    // Percent-encoded as any query value may be; another key names its own source.
    ok(&beacon(
        &c,
        "?writeKey=test%2Dwrite%2Dkey&v=3",
        &[],
        &json!({"batch": [track("q-2")]}),
    ));
    ok(&beacon(
        &c,
        &format!("?writeKey={SERVER_WRITE_KEY}"),
        &[],
        &json!({"batch": [track("q-server")]}),
    ));
    // The same key in a header as well: fine.
    ok(&beacon(
        &c,
        &query,
        &[("authorization", &basic(WRITE_KEY))],
        &json!({"batch": [track("q-3")]}),
    ));
    // No query key: the rules of /v1/batch (the body's key, else 401).
    ok(&beacon(
        &c,
        "",
        &[],
        &json!({"writeKey": WRITE_KEY, "batch": [track("q-4")]}),
    ));
    unauthorized(&beacon(&c, "", &[], &json!({"batch": [track("q-x1")]})));

    // A wrong query key is 401 even with a right key in the body; as is an empty one, two
    // of them, or a header naming another key (both right keys), or an unreadable header.
    let body_key = json!({"writeKey": WRITE_KEY, "batch": [track("q-x2")]});
    unauthorized(&beacon(&c, "?writeKey=not-a-key", &[], &body_key));
    unauthorized(&beacon(&c, "?writeKey=", &[], &body_key));
    unauthorized(&beacon(
        &c,
        &format!("{query}&writeKey={WRITE_KEY}"),
        &[],
        &body_key,
    ));
    unauthorized(&beacon(
        &c,
        &query,
        &[("authorization", &basic(SERVER_WRITE_KEY))],
        &body_key,
    ));
    unauthorized(&beacon(
        &c,
        &query,
        &[("authorization", "Digest x")],
        &body_key,
    ));
    // The query key is read on the beacon path only: elsewhere it is no key.
    unauthorized(&send(
        &c,
        "POST",
        &format!("/v1/batch{query}"),
        &[("content-type", "text/plain")],
        json!({"batch": [track("q-x3")]}).to_string(),
    ));

    // Validation and per-event errors as on /v1/batch.
    let mixed = json!({"batch": [
        track("q-5"),
        {"type": "track", "anonymousId": "anon-1", "messageId": "q-x4"},
        {"type": "nope", "anonymousId": "anon-1", "messageId": "q-x5"},
    ]});
    let reply = beacon(&c, &query, &[], &mixed);
    ok(&reply);
    let listed = post_json(&c, "/v1/batch", &mixed).json()["rejected"].clone();
    assert_eq!(reply.json()["rejected"], listed, "{}", reply.text);
    assert_eq!(reply.json()["rejectedCount"], 2, "{}", reply.text);
    let reply = beacon(&c, &query, &[], &json!([track("q-x6")]));
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (400, "not_a_batch"),
        "{}",
        reply.text
    );
    let reply = send(
        &c,
        "POST",
        &format!("/beacon/v1/batch{query}"),
        &[("content-type", "text/html")],
        json!({"batch": [track("q-x7")]}).to_string(),
    );
    assert_eq!(reply.status, 415, "{}", reply.text);

    let records = c.feed(0);
    let mut keys: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "event")
        .map(|r| r["key"].as_str().expect("key"))
        .collect();
    keys.sort();
    assert_eq!(keys, ["q-1", "q-2", "q-3", "q-4", "q-5", "q-server"]);
    for record in &records {
        let source = if record["key"] == "q-server" {
            SERVER_WRITE_KEY_SOURCE
        } else {
            WRITE_KEY_SOURCE
        };
        assert_eq!(record["source"], source, "{record}");
        assert!(record["value"].get("writeKey").is_none(), "{record}");
    }
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The beacon key travels in the URL, where request logs usually put it: with every log
/// on (`CAIRN_LOG=trace`), neither a right nor a wrong query key is in the collector's
/// log, nor in /metrics.
#[test]
fn beacon_query_key_is_never_logged() {
    const RIGHT: &str = "beacon-right-key-7f3a";
    const WRONG: &str = "beacon-wrong-key-91c2";
    let dir = temp_dir("sdk-beacon-log");
    let log_path = dir.join("stderr.log");
    let stderr = std::fs::File::create(&log_path).expect("create stderr file");
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_cairn-collector"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--write-key", RIGHT, "--read-key", "beacon-read-key"])
            .args([
                "--admin-key",
                "beacon-admin-key",
                "--hash-secret",
                "beacon-hash-secret",
            ])
            .args(["--project-hash-key", "beacon-project-hash-key"])
            .env("CAIRN_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn collector"),
    );
    // The log goes to stdout (tracing's default), with the address line; stderr (a
    // panic, a refused configuration) to the file.
    let stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let (address, url_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("cairn-collector listening on ") {
                let _ = address.send(url.to_owned());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    let url = url_rx.recv().unwrap_or_else(|_| {
        let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("the collector did not start: {stderr}")
    });
    let client = cairn_testkit::http_client().build().expect("client");
    let post = |key: &str| {
        client
            .post(format!("{url}/beacon/v1/batch?writeKey={key}"))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(json!({"batch": [track(&format!("log-{key}"))]}).to_string())
            .send()
            .expect("post")
            .status()
            .as_u16()
    };
    assert_eq!(post(RIGHT), 200);
    assert_eq!(post(WRONG), 401);
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    assert!(
        metrics.contains("/beacon/v1/batch"),
        "the beacon route is measured"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    assert!(child.0.wait().expect("wait").success());

    let log = reader.join().expect("stdout reader")
        + &std::fs::read_to_string(&log_path).expect("read stderr");
    assert!(
        log.contains("starting") && log.contains("stopped"),
        "the log was written: {log}"
    );
    for key in [RIGHT, WRONG] {
        assert!(!log.contains(key), "{key} in the log:\n{log}");
        assert!(!metrics.contains(key), "{key} in /metrics:\n{metrics}");
    }
}
