//! Existing Segment client libraries, installed from their registries, post to the real
//! collector unchanged; what they sent must arrive in the feed, pseudonymised.
//!
//! - Python: `segment-analytics-python` from PyPI, in the venv that
//!   scripts/install-test-deps.sh makes (`CAIRN_PYTHON`, default
//!   `$HOME/.cache/cairn/venv/bin/python`). Its default client batches with gzip; a
//!   second client in sync mode posts without.
//! - Node: `@segment/analytics-node` from npm, in collector/tests/clients/node_modules
//!   (`CAIRN_NODE`, default `node`).
//!
//! A missing interpreter or library fails the test: it never passes by skipping.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use cairn_testkit::{temp_dir, CollectorProcess, HASH_SECRET, PROJECT_HASH_KEY, SERVER_WRITE_KEY};
use serde_json::{json, Value};

const INSTALL_HINT: &str =
    "run scripts/install-test-deps.sh (it installs the Segment client libraries)";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn hmac_hex(key: &str, text: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::sign(&key, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The userId, previousId, e-mail or phone (given normalised) as the collector stores
/// it: HMAC-SHA256 under the server's hash secret of the device hash (HMAC-SHA256 under
/// the project hash key), in lower-case hex. Computed here independently of the
/// collector's code: a raw id from a server library ends in the pseudonym an SDK's
/// device hash would.
fn hashed(normalised: &str) -> String {
    hmac_hex(HASH_SECRET, &hmac_hex(PROJECT_HASH_KEY, normalised))
}

/// Runs a client script; returns the JSON line it printed. Fails the test when the
/// program is missing, the library cannot be loaded, or the library reported an error.
fn run_client(program: &str, script: &str, collector: &CollectorProcess, prefix: &str) -> Value {
    let output = Command::new(program)
        .arg(clients_dir().join(script))
        .args([collector.url.as_str(), SERVER_WRITE_KEY, prefix])
        .current_dir(clients_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): {INSTALL_HINT}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Option<Value> = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    assert!(
        output.status.success() && report.is_some(),
        "{script} under {program} failed ({}).\nstdout:\n{stdout}\nstderr:\n{stderr}\n\
         If a module or package is missing: {INSTALL_HINT}",
        output.status
    );
    let report = report.unwrap();
    assert_eq!(
        report["errors"],
        json!([]),
        "the library reported errors: {report}\nstderr:\n{stderr}"
    );
    println!("{script}: {report}");
    report
}

/// The feed's events with messageIds starting with `prefix`, by messageId, once `count`
/// of them are there (long-polling, bounded).
fn events_with_prefix(
    collector: &CollectorProcess,
    prefix: &str,
    count: usize,
) -> HashMap<String, Value> {
    let records = collector.wait_for_events(count, Duration::from_secs(30));
    let mut events = HashMap::new();
    for record in records {
        let key = record["key"].as_str().expect("record key").to_owned();
        if !key.starts_with(prefix) {
            continue;
        }
        assert_eq!(
            record["value"]["messageId"], key,
            "record key is the messageId"
        );
        assert!(
            events
                .insert(key.clone(), record["value"].clone())
                .is_none(),
            "{key} twice in the feed"
        );
    }
    assert_eq!(
        events.len(),
        count,
        "events from the library in the feed: {events:#?}"
    );
    events
}

fn is_hex64(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// What every event from a library carries.
fn check_common(event: &Value, kind: &str, raw_user: Option<&str>, library: &str) {
    assert_eq!(event["type"], kind, "{event:#}");
    match raw_user {
        Some(raw) => {
            assert!(
                is_hex64(&event["userId"]),
                "userId is a 64-hex hash: {event:#}"
            );
            assert_eq!(
                event["userId"],
                hashed(raw),
                "userId is HMAC-SHA256 of {raw}"
            );
        }
        None => assert!(event.get("userId").is_none(), "{event:#}"),
    }
    assert_eq!(event["context"]["library"]["name"], library, "{event:#}");
    for field in ["timestamp", "receivedAt", "originalTimestamp", "sentAt"] {
        assert!(event[field].is_string(), "{field} stamped: {event:#}");
    }
}

fn assert_no_raw(collector: &CollectorProcess, raw: &[&str]) {
    let text = serde_json::to_string(&collector.feed(0)).unwrap();
    for value in raw {
        assert!(!text.contains(value), "raw {value:?} reached the feed");
    }
}

#[test]
fn segment_python_library_posts_every_call_type() {
    let python = std::env::var("CAIRN_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").expect("HOME is set");
        format!("{home}/.cache/cairn/venv/bin/python")
    });
    assert!(
        Path::new(&python).exists() || !python.contains('/'),
        "Python interpreter {python} is missing: {INSTALL_HINT}"
    );
    let data_dir = temp_dir("segment-python");
    let collector = CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), &data_dir, &[]);
    let prefix = "py-msg-";
    let report = run_client(&python, "segment_python.py", &collector, prefix);
    assert_eq!(report["library"], "analytics-python");

    let events = events_with_prefix(&collector, prefix, 7);
    let event = |name: &str| &events[&format!("{prefix}{name}")];
    let library = "analytics-python";

    let track = event("track");
    check_common(track, "track", Some("py-user-1"), library);
    assert_eq!(track["event"], "Product Added");
    assert_eq!(track["anonymousId"], "py-anon-1");
    assert_eq!(
        track["properties"],
        json!({"sku": "SKU-42", "price": 19.5, "tags": ["a", "b"]})
    );

    let identify = event("identify");
    check_common(identify, "identify", Some("py-user-1"), library);
    assert_eq!(identify["anonymousId"], "py-anon-1");
    assert_eq!(identify["traits"]["plan"], "pro");
    assert_eq!(identify["traits"]["email"], hashed("py.user@example.com"));
    assert_eq!(
        identify["traits"]["phone"],
        hashed("+442079460958"),
        "E.164, then hashed"
    );

    let page = event("page");
    check_common(page, "page", Some("py-user-1"), library);
    assert_eq!(page["name"], "Install");
    assert_eq!(page["category"], "Docs");
    assert_eq!(page["properties"], json!({"path": "/docs/install"}));

    let screen = event("screen");
    check_common(screen, "screen", Some("py-user-1"), library);
    assert_eq!(screen["name"], "Basket");
    assert_eq!(screen["properties"], json!({"items": 3}));

    let group = event("group");
    check_common(group, "group", Some("py-user-1"), library);
    assert_eq!(group["groupId"], "py-group-1");
    assert_eq!(group["traits"], json!({"name": "Acme", "seats": 12}));

    let alias = event("alias");
    check_common(alias, "alias", Some("py-user-1"), library);
    assert_eq!(alias["previousId"], hashed("py-old-id"));

    let sync = event("sync");
    check_common(sync, "track", None, library);
    assert_eq!(sync["event"], "Sync Event");
    assert_eq!(sync["anonymousId"], "py-anon-2");
    assert_eq!(sync["properties"], json!({"sync": true}));

    assert_no_raw(
        &collector,
        &["py-user-1", "py.user@example.com", "7946", "py-old-id"],
    );
}

#[test]
fn segment_node_library_posts_every_call_type() {
    let node = std::env::var("CAIRN_NODE").unwrap_or_else(|_| "node".into());
    assert!(
        clients_dir()
            .join("node_modules/@segment/analytics-node")
            .is_dir(),
        "@segment/analytics-node is not installed in {}: {INSTALL_HINT}",
        clients_dir().display()
    );
    let data_dir = temp_dir("segment-node");
    let collector = CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), &data_dir, &[]);
    let prefix = "node-msg-";
    let report = run_client(&node, "segment_node.mjs", &collector, prefix);
    assert_eq!(report["library"], "@segment/analytics-node");

    let events = events_with_prefix(&collector, prefix, 6);
    let event = |name: &str| &events[&format!("{prefix}{name}")];
    let library = "@segment/analytics-node";

    let track = event("track");
    check_common(track, "track", Some("node-user-1"), library);
    assert_eq!(track["event"], "Product Added");
    assert_eq!(track["anonymousId"], "node-anon-1");
    assert_eq!(
        track["properties"],
        json!({"sku": "SKU-7", "price": 4.25, "tags": ["x"]})
    );

    let identify = event("identify");
    check_common(identify, "identify", Some("node-user-1"), library);
    assert_eq!(identify["traits"]["plan"], "team");
    assert_eq!(identify["traits"]["email"], hashed("node.user@example.com"));
    assert_eq!(
        identify["traits"]["phone"],
        hashed("+15550109999"),
        "E.164, then hashed"
    );

    let page = event("page");
    check_common(page, "page", Some("node-user-1"), library);
    assert_eq!(page["name"], "Install");
    assert_eq!(page["properties"]["path"], "/docs/install");

    let screen = event("screen");
    check_common(screen, "screen", Some("node-user-1"), library);
    assert_eq!(screen["name"], "Basket");
    assert_eq!(screen["properties"]["items"], 2);

    let group = event("group");
    check_common(group, "group", Some("node-user-1"), library);
    assert_eq!(group["groupId"], "node-group-1");
    assert_eq!(group["traits"], json!({"name": "Initech", "seats": 3}));

    let alias = event("alias");
    check_common(alias, "alias", Some("node-user-1"), library);
    assert_eq!(alias["previousId"], hashed("node-old-id"));

    assert_no_raw(
        &collector,
        &[
            "node-user-1",
            "node.user@example.com",
            "555 010",
            "node-old-id",
        ],
    );
}
