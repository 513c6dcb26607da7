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
//! The beacon test (tests/clients/rudderstack_beacon.mjs) loads the SDK with `useBeacon:
//! true`: its BeaconQueue sends each batch with navigator.sendBeacon, `{batch, sentAt}` as
//! text/plain without an Authorization header, to `/beacon/v1/batch?writeKey=<key>`. A
//! full batch, a batch sent as the page is left (with the SDK's "Page Unloaded", which
//! it tracks only in beacon mode) and a beacon with an unknown key (401, nothing stored).
//!
//! Needs node, chromium (`CHROMIUM`, default /usr/bin/chromium) and `npm ci` in
//! tests/clients (scripts/install-test-deps.sh does both). Anything missing fails the
//! test with the command that fixes it; nothing is skipped.

mod api_support;
mod browser_support;

use browser_support::{assert_not_raw, calls, check_preflights, feed_events, post_paths, Sdk};
use cairn_testkit::{stored_user_id, WRITE_KEY, WRITE_KEY_SOURCE};
use serde_json::Value;

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

const RUDDERSTACK: Sdk = Sdk {
    test: "RudderStack browser",
    package: "@rudderstack/analytics-js",
    version: "3.34.",
    library: "RudderLabs JavaScript SDK",
};

#[test]
fn rudderstack_browser_sdk_posts_cross_origin_in_chromium() {
    let (collector, report) = RUDDERSTACK.run(
        "rudderstack-browser",
        "rudderstack_browser.mjs",
        &[WRITE_KEY],
    );

    // The feed: every call's messageId exactly once (a retried post is not a duplicate).
    let calls = calls(&report);
    let events = feed_events(&collector, &calls);
    let email = stored_user_id(EMAIL);
    for ((session, call), event) in calls.iter().zip(&events) {
        let label = format!("{} {}", session["name"], call["call"]);
        assert_eq!(event["channel"], "web", "{label}");
        RUDDERSTACK.check_stamped(&label, event);
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
    let (asked, answered) = check_preflights(&report, &RUDDERSTACK_HEADERS);
    assert!(answered >= 5, "the posts were preflighted: {report:#}");
    for h in RUDDERSTACK_HEADERS {
        assert!(asked.contains(h), "no preflight asked for {h}: {asked:?}");
    }
    let paths = post_paths(&report);
    for path in ["/v1/page", "/v1/track", "/v1/identify", "/v1/batch"] {
        assert!(paths.contains(path), "no post to {path}: {paths:?}");
    }

    // Pseudonymised: the raw e-mail and user id are nowhere in the data dir.
    assert_not_raw(&collector.data_dir, &[EMAIL, USER_ID]);
}

/// The SDK in beacon mode: every batch reaches the feed once, by the beacon path with the
/// key in its query, as the page stays and as it is left; a beacon with an unknown key is
/// refused (401) and nothing of it is stored.
#[test]
fn rudderstack_browser_sdk_beacons_with_the_key_in_the_query() {
    let (collector, report) =
        RUDDERSTACK.run("rudderstack-beacon", "rudderstack_beacon.mjs", &[WRITE_KEY]);

    // The feed holds exactly the calls' events (the wrong key's is not among them), each
    // once, under the key's source.
    let calls = calls(&report);
    let events = feed_events(&collector, &calls);
    for ((session, call), event) in calls.iter().zip(&events) {
        let label = format!("{} {}", session["name"], call["call"]);
        RUDDERSTACK.check_stamped(&label, event);
        match call["call"].as_str().unwrap() {
            "page" => assert_eq!(event["name"], "Install", "{label}: {event:#}"),
            "track" => {
                assert_eq!(event["event"], "Product Added", "{label}: {event:#}");
                assert_eq!(event["properties"]["price"], 19.5, "{label}");
            }
            "identify" => {
                assert_eq!(
                    event["userId"],
                    stored_user_id(USER_ID),
                    "{label}: {event:#}"
                );
                assert_eq!(
                    event["context"]["traits"]["email"],
                    stored_user_id(EMAIL),
                    "{label}: e-mail pseudonymised: {event:#}"
                );
            }
            "queued track" => assert_eq!(event["event"], "Checkout Started", "{label}"),
            "page unloaded" => {
                assert_eq!(event["event"], "Page Unloaded", "{label}: {event:#}");
                assert!(
                    event["properties"]["timeOnPage"].is_number(),
                    "{label}: {event:#}"
                );
            }
            other => panic!("unexpected call {other}"),
        }
    }
    let records = collector.feed(0);
    assert!(
        records
            .iter()
            .filter(|r| r["kind"] == "event")
            .all(|r| r["source"] == WRITE_KEY_SOURCE),
        "every event under the key's source: {records:#?}"
    );

    // Every post was a beacon: to the beacon path, the key in the query, text/plain,
    // without an Authorization header (so without a preflight).
    let sessions = report["sessions"].as_array().expect("sessions");
    let session = |name: &str| {
        sessions
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("session {name}: {report:#}"))
    };
    for s in sessions {
        assert_eq!(
            s["preflights"].as_array().map(Vec::len),
            Some(0),
            "beacons are not preflighted: {s:#}"
        );
        for post in s["posts"].as_array().expect("posts") {
            assert_eq!(post["path"], "/beacon/v1/batch", "{post}");
            let key = if s["name"] == "wrong-key" {
                format!("{WRITE_KEY}-unknown")
            } else {
                WRITE_KEY.to_owned()
            };
            assert_eq!(post["query"], format!("?writeKey={key}"), "{post}");
            if post["fromPageLog"] == true {
                // Sent as its page went: playwright saw no request, only the page's log.
                assert_eq!(s["name"], "beacon-leaving", "{post}");
                continue;
            }
            let content_type = post["headers"]["content-type"].as_str().unwrap_or("");
            assert!(content_type.starts_with("text/plain"), "{post}");
            assert!(post["headers"].get("authorization").is_none(), "{post}");
        }
    }
    let beacon = session("beacon");
    let posts = beacon["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 1, "the three calls in one beacon: {posts:#?}");
    assert_eq!(posts[0]["status"], 200, "{posts:#?}");
    assert_eq!(posts[0]["messageIds"].as_array().map(Vec::len), Some(3));
    // The leaving session's beacon held both its events (the feed has them, above).
    let leaving = session("beacon-leaving");
    let sent: Vec<&Value> = leaving["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .flat_map(|p| p["messageIds"].as_array().expect("messageIds"))
        .collect();
    for call in leaving["calls"].as_array().expect("calls") {
        assert!(
            sent.contains(&&call["messageId"]),
            "{call} not beaconed: {leaving:#}"
        );
    }

    // The unknown key: refused as unauthorized (playwright does not report that
    // beacon's answer: the collector's count shows it), its event nowhere.
    let wrong = session("wrong-key");
    let refused = wrong["refused"].as_str().expect("refused messageId");
    let posts = wrong["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0]["messageIds"][0], refused, "{posts:#?}");
    api_support::await_metric(
        &collector,
        "cairn_events_rejected_total{reason=\"unauthorized\"}",
        |n| n == 1.0,
    );
    assert!(
        records.iter().all(|r| r["key"] != refused),
        "the refused beacon's event was stored"
    );
    assert_not_raw(&collector.data_dir, &[EMAIL, USER_ID]);
}
