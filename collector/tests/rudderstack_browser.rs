//! RudderStack's browser SDK (`@rudderstack/analytics-js` 3.34 from npm, its bundled
//! build) in Debian's headless Chromium posts to the real collector from another origin,
//! so every post is preflighted: the collector must answer the preflights of every
//! Segment-compatible browser client, whatever headers it sends (`AnonymousId`,
//! `SentAt`, and on a retry `Rsa-Retry-Attempt`, `Rsa-Since-Last-Attempt`, ...).
//!
//! tests/clients/rudderstack_browser.mjs (playwright-core, never a downloaded browser)
//! serves the page from its own loopback port, loads the SDK offline (source config from
//! `getSourceConfig`, no plugin or CDN fetch; other hosts cannot resolve) and calls
//! page(), track() and identify() with an e-mail trait: once with one post per call,
//! once more after the collector is killed (-9) so the SDK retries with its retry
//! headers, and once with batching on (/v1/batch). It reports what it saw, including the
//! preflights' answers from DevTools; this test checks them against the feed and the
//! data dir.
//!
//! Needs node, chromium (`CHROMIUM`, default /usr/bin/chromium) and `npm ci` in
//! tests/clients (scripts/install-test-deps.sh does both). Anything missing fails the
//! test with the command that fixes it; nothing is skipped.

use std::{
    collections::{BTreeSet, HashMap},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use cairn_testkit::{files_containing, stored_user_id, temp_dir, CollectorProcess, WRITE_KEY};
use serde_json::Value;

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (it installs chromium and \
     runs `npm ci` in collector/tests/clients)";
const EMAIL: &str = "rs.user@example.com";
const USER_ID: &str = "rs-user-1";
/// The headers RudderStack's XhrQueue adds to its posts (lower-case, as preflights list
/// them); the Rsa-* ones only on a retry.
const RUDDERSTACK_HEADERS: [&str; 8] = [
    "anonymousid",
    "authorization",
    "content-type",
    "sentat",
    "rsa-retry-attempt",
    "rsa-retry-reason",
    "rsa-since-first-attempt",
    "rsa-since-last-attempt",
];

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn require(ok: bool, what: &str) {
    assert!(
        ok,
        "the RudderStack browser test cannot run: {what}; {INSTALL_HINT}"
    );
}

fn str_list(value: &Value) -> BTreeSet<String> {
    value
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Runs the browser script against `collector`, obeying its kill/restart commands;
/// returns its report.
fn run_browser(collector: &mut CollectorProcess, chromium: &str) -> Value {
    let mut node = Command::new("node")
        .arg(clients_dir().join("rudderstack_browser.mjs"))
        .args([collector.url.as_str(), WRITE_KEY])
        .current_dir(clients_dir())
        .env("CHROMIUM", chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {INSTALL_HINT}"));
    let mut stdin = node.stdin.take().expect("piped stdin");
    let stdout = BufReader::new(node.stdout.take().expect("piped stdout"));
    let mut last = String::new();
    for line in stdout.lines().map_while(Result::ok) {
        match line.as_str() {
            "cmd:kill9" => collector.kill9(),
            "cmd:restart" => collector.restart(),
            _ => {
                last = line;
                continue;
            }
        }
        writeln!(stdin, "ok").expect("answer the browser script");
    }
    let status = node.wait().expect("wait for node");
    let report: Value = serde_json::from_str(&last)
        .unwrap_or_else(|_| panic!("no report from the browser script ({status}): {last}"));
    assert!(
        status.success() && report.get("error").is_none(),
        "the browser script failed ({status}): {}\nbrowser console errors (a refused \
         preflight shows here as 'blocked by CORS policy'): {:#}\nreport: {report:#}",
        report["error"].as_str().unwrap_or(""),
        report["consoleErrors"]
    );
    report
}

#[test]
fn rudderstack_browser_sdk_posts_cross_origin_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        Path::new(&chromium).exists(),
        &format!("{chromium} is missing (apt-get install chromium, or set CHROMIUM)"),
    );
    for package in ["@rudderstack/analytics-js", "playwright-core"] {
        require(
            clients_dir().join("node_modules").join(package).is_dir(),
            &format!("{package} is not installed in {}", clients_dir().display()),
        );
    }
    require(
        Command::new("node").arg("--version").output().is_ok(),
        "node is not on PATH",
    );

    let mut collector = CollectorProcess::start(
        env!("CARGO_BIN_EXE_cairn-collector"),
        temp_dir("rudderstack-browser"),
        &[],
    );
    let report = run_browser(&mut collector, &chromium);
    println!("rudderstack_browser.mjs: {report}");
    assert!(
        report["version"]
            .as_str()
            .unwrap_or("")
            .starts_with("3.34."),
        "@rudderstack/analytics-js 3.34.x: {}",
        report["version"]
    );
    assert_eq!(
        report["offLoopback"].as_array().map(Vec::len),
        Some(0),
        "requests that left loopback: {}",
        report["offLoopback"]
    );
    assert_eq!(
        report["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "errors on the page: {}",
        report["pageErrors"]
    );
    assert_ne!(
        report["pageOrigin"], report["collectorOrigin"],
        "the page and the collector must be on different origins"
    );

    // The feed: every call's messageId exactly once (a retried post is not a duplicate).
    let sessions = report["sessions"].as_array().expect("sessions");
    let calls: Vec<(&Value, &Value)> = sessions
        .iter()
        .flat_map(|s| {
            s["calls"]
                .as_array()
                .expect("calls")
                .iter()
                .map(move |c| (s, c))
        })
        .collect();
    let records = collector.wait_for_events(calls.len(), Duration::from_secs(30));
    let mut feed: HashMap<&str, Vec<&Value>> = HashMap::new();
    for record in &records {
        let key = record["key"].as_str().expect("record key");
        assert_eq!(
            record["value"]["messageId"], key,
            "record key is the messageId"
        );
        feed.entry(key).or_default().push(&record["value"]);
    }
    assert_eq!(
        records.len(),
        calls.len(),
        "the feed holds exactly the calls' events: {records:#?}"
    );
    let email = stored_user_id(EMAIL);
    for (session, call) in &calls {
        let label = format!("{} {}", session["name"], call["call"]);
        let id = call["messageId"].as_str().expect("messageId");
        let events = feed.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            events.len(),
            1,
            "{label}: {id} in the feed {} times",
            events.len()
        );
        let event = events[0];
        assert_eq!(event["type"], call["type"], "{label}: {event:#}");
        assert_eq!(
            event["anonymousId"], session["anonymousId"],
            "{label}: {event:#}"
        );
        assert_eq!(event["channel"], "web", "{label}");
        assert_eq!(
            event["context"]["library"]["name"], "RudderLabs JavaScript SDK",
            "{label}"
        );
        for field in ["timestamp", "receivedAt", "originalTimestamp", "sentAt"] {
            assert!(
                event[field].is_string(),
                "{label}: {field} stamped: {event:#}"
            );
        }
        match call["call"].as_str().unwrap() {
            "page" => {
                assert_eq!(event["name"], "Install", "{label}: {event:#}");
                assert_eq!(event["category"], "Docs", "{label}: {event:#}");
                assert_eq!(event["properties"]["path"], "/docs/install", "{label}");
                assert_eq!(event["properties"]["section"], "cli", "{label}");
            }
            "track" => {
                assert_eq!(event["event"], "Product Added", "{label}: {event:#}");
                assert_eq!(event["properties"]["sku"], "RS-42", "{label}");
                assert_eq!(event["properties"]["price"], 19.5, "{label}");
            }
            "identify" => {
                assert_eq!(
                    event["userId"],
                    stored_user_id(USER_ID),
                    "{label}: {event:#}"
                );
                // RudderStack sends identify traits in context.traits.
                let traits = &event["context"]["traits"];
                assert_eq!(
                    traits["email"], email,
                    "{label}: e-mail pseudonymised: {event:#}"
                );
                assert_eq!(traits["plan"], "pro", "{label}");
            }
            "retried track" => {
                assert_eq!(event["event"], "Checkout Started", "{label}: {event:#}");
                assert_eq!(
                    event["userId"],
                    stored_user_id(USER_ID),
                    "{label}: {event:#}"
                );
            }
            other => panic!("unexpected call {other}"),
        }
    }

    // The preflights, as Chromium saw them (except those that met the killed collector):
    // answered 2xx with origin `*`, allowing every header asked for; together they
    // covered every RudderStack header, retry ones too.
    let mut asked = BTreeSet::new();
    let mut preflight_count = 0;
    for session in sessions {
        let name = &session["name"];
        let preflights = session["preflights"].as_array().expect("preflights");
        for p in preflights {
            if p["whileDown"] == true && p["failure"].is_string() {
                // Sent to the killed collector: refused at the socket, retried later.
                continue;
            }
            preflight_count += 1;
            let status = p["status"].as_u64().unwrap_or(0);
            assert!(
                (200..300).contains(&status),
                "{name}: preflight of {} answered {status}: {p}",
                p["path"]
            );
            assert_eq!(p["allowOrigin"], "*", "{name}: {p}");
            let allowed = str_list(&p["allowHeaders"]);
            for h in str_list(&p["requestHeaders"]) {
                assert!(allowed.contains(&h), "{name}: {h} asked, not allowed: {p}");
                asked.insert(h);
            }
        }
        // Each post's RudderStack headers were allowed by a preflight of its path.
        for post in session["posts"].as_array().expect("posts") {
            let sent: BTreeSet<String> = post["headers"]
                .as_object()
                .expect("post headers")
                .keys()
                .map(|k| k.to_ascii_lowercase())
                .filter(|k| RUDDERSTACK_HEADERS.contains(&k.as_str()))
                .collect();
            let allowed: BTreeSet<String> = preflights
                .iter()
                .filter(|p| p["path"] == post["path"])
                .flat_map(|p| str_list(&p["allowHeaders"]))
                .collect();
            let missing: Vec<_> = sent.difference(&allowed).collect();
            assert!(
                missing.is_empty(),
                "{name}: {} sent {missing:?} that no preflight allowed",
                post["path"]
            );
        }
    }
    assert!(
        preflight_count >= 5,
        "the posts were preflighted: {report:#}"
    );
    for h in RUDDERSTACK_HEADERS {
        assert!(asked.contains(h), "no preflight asked for {h}: {asked:?}");
    }
    let paths: BTreeSet<&str> = sessions
        .iter()
        .flat_map(|s| s["posts"].as_array().unwrap())
        .filter_map(|p| p["path"].as_str())
        .collect();
    for path in ["/v1/page", "/v1/track", "/v1/identify", "/v1/batch"] {
        assert!(paths.contains(path), "no post to {path}: {paths:?}");
    }

    // Pseudonymised: the raw e-mail and user id are nowhere in the data dir.
    for raw in [EMAIL, USER_ID] {
        let hits = files_containing(&collector.data_dir, raw.as_bytes());
        assert!(hits.is_empty(), "raw {raw:?} in the data dir: {hits:?}");
    }
}
