//! Segment's browser SDK (`@segment/analytics-next` 1.84 from npm, its UMD build) in
//! Debian's headless Chromium posts to the real collector from another origin, as a site
//! moving from Segment would run it: `AnalyticsBrowser.load` with its CDN settings
//! inline (only the Segment.io destination, `apiHost` the collector's `/v1`, protocol
//! http), so nothing is fetched from a Segment CDN.
//!
//! What Chromium showed (tests/clients/segment_browser.mjs reads the preflights from
//! DevTools): analytics-next posts `Content-Type: text/plain` (no preflight for that)
//! but adds `Authorization: Basic <write key>:` to every post and `X-Retry-Count` to a
//! retry, so every post is preflighted asking for `authorization` (and
//! `authorization,x-retry-count` on a retry). The collector must allow both.
//!
//! `delivered`: page(), track() and identify() with an e-mail trait, one post per call
//! to `/v1/p`, `/v1/t`, `/v1/i`; a track retried after the collector was killed (-9);
//! the same calls again with `keepalive` fetches (analytics-next's beacon-like mode,
//! `deliveryStrategy.config.keepalive`; it has no sendBeacon), then a track whose post
//! has just started when the page is left: a keepalive post, preflight and all,
//! outlives its page. Each event is in the feed once, pseudonymised.
//!
//! `other_paths`: analytics-next's batching mode posts `{writeKey, batch, sentAt}` to
//! `<apiHost>/b`, and group() and alias() post to `/g` and `/a` (every call to
//! `<apiHost>/<first letter of its type>`). analytics-next drops an event answered 4xx
//! without a retry, so before the collector routed `/v1/b`, `/v1/g` and `/v1/a` (404)
//! those events were lost; each now reaches the feed once.
//!
//! Needs node, chromium (`CHROMIUM`, default /usr/bin/chromium) and `npm ci` in
//! tests/clients (scripts/install-test-deps.sh does both). Anything missing fails the
//! test with the command that fixes it; nothing is skipped.

mod browser_support;

use std::collections::BTreeSet;

use browser_support::{assert_not_raw, calls, check_preflights, feed_events, post_paths, Sdk};
use cairn_testkit::{stored_user_id, CollectorProcess, WRITE_KEY};
use serde_json::Value;

const EMAIL: &str = "sg.user@example.com";
const USER_ID: &str = "sg-user-1";
/// The request headers analytics-next sets on its posts (lower-case), besides
/// `Content-Type: text/plain`, which needs no preflight.
const SEGMENT_HEADERS: [&str; 2] = ["authorization", "x-retry-count"];

const SEGMENT: Sdk = Sdk {
    test: "Segment browser",
    package: "@segment/analytics-next",
    version: "1.84.",
    library: "analytics.js",
};

fn run(name: &str, mode: &str) -> (CollectorProcess, Value) {
    SEGMENT.run(name, "segment_browser.mjs", &[WRITE_KEY, mode])
}

/// What every analytics-next event in the feed has, whatever its call.
fn check_common(label: &str, event: &Value) {
    SEGMENT.check_stamped(label, event);
    // analytics-next puts the write key in every body too; it never reaches the feed.
    assert!(event.get("writeKey").is_none(), "{label}: {event:#}");
}

fn check_identify(label: &str, event: &Value) {
    assert_eq!(
        event["userId"],
        stored_user_id(USER_ID),
        "{label}: {event:#}"
    );
    // analytics-next sends identify traits at the top level.
    assert_eq!(
        event["traits"]["email"],
        stored_user_id(EMAIL),
        "{label}: e-mail pseudonymised: {event:#}"
    );
}

#[test]
fn segment_browser_sdk_posts_cross_origin_in_chromium() {
    let (collector, report) = run("segment-browser", "delivered");

    let calls = calls(&report);
    let events = feed_events(&collector, &calls);
    for ((session, call), event) in calls.iter().zip(&events) {
        let label = format!("{} {}", session["name"], call["call"]);
        check_common(&label, event);
        match call["call"].as_str().unwrap() {
            "page" => {
                assert_eq!(event["name"], "Install", "{label}: {event:#}");
                assert_eq!(event["category"], "Docs", "{label}: {event:#}");
                assert_eq!(event["properties"]["section"], "cli", "{label}");
            }
            "track" => {
                assert_eq!(event["event"], "Product Added", "{label}: {event:#}");
                assert_eq!(event["properties"]["sku"], "SG-42", "{label}");
                assert_eq!(event["properties"]["price"], 19.5, "{label}");
            }
            "identify" => {
                check_identify(&label, event);
                assert_eq!(event["traits"]["plan"], "pro", "{label}");
            }
            "track on leaving" => {
                assert_eq!(event["event"], "Page Left", "{label}: {event:#}");
                assert_eq!(event["properties"]["step"], 2, "{label}");
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

    // Every post was text/plain with the write key in a Basic Authorization header, so
    // every one was preflighted; a retry added X-Retry-Count. The collector's answers
    // allowed every header asked for, and the preflights asked for exactly these.
    let sessions = report["sessions"].as_array().expect("sessions");
    let posts = || sessions.iter().flat_map(|s| s["posts"].as_array().unwrap());
    for post in posts() {
        assert_eq!(post["headers"]["content-type"], "text/plain", "{post}");
        assert!(post["headers"]["authorization"].is_string(), "{post}");
    }
    assert!(
        posts().any(|p| p["status"] == 200 && p["headers"]["x-retry-count"].is_string()),
        "a retry with X-Retry-Count was delivered: {report:#}"
    );
    let (asked, answered) = check_preflights(&report, &SEGMENT_HEADERS);
    assert!(answered >= 6, "the posts were preflighted: {report:#}");
    assert_eq!(
        asked,
        BTreeSet::from(SEGMENT_HEADERS.map(String::from)),
        "the headers analytics-next's preflights ask for (docs/collector-api.md lists them)"
    );
    let paths = post_paths(&report);
    for path in ["/v1/p", "/v1/t", "/v1/i"] {
        assert!(paths.contains(path), "no post to {path}: {paths:?}");
    }

    // The keepalive session's fetches were keepalive, and were delivered (above), the
    // one started as the page was left too: a preflighted keepalive fetch works in
    // Chromium and outlives the page.
    let keepalive = sessions
        .iter()
        .find(|s| s["name"] == "keepalive")
        .expect("keepalive session");
    let fetches = keepalive["fetches"].as_array().expect("keepalive fetches");
    assert!(
        !fetches.is_empty() && fetches.iter().all(|f| f["keepalive"] == true),
        "{fetches:#?}"
    );

    assert_not_raw(&collector.data_dir, &[EMAIL, USER_ID]);
}

/// analytics-next's batching mode (`/v1/b`) and its group and alias paths (`/v1/g`,
/// `/v1/a`): every post answered 200, each event once in the feed.
#[test]
fn segment_browser_batching_group_and_alias_are_delivered() {
    let (collector, report) = run("segment-browser-other-paths", "other-paths");
    let sessions = report["sessions"].as_array().expect("sessions");
    for post in sessions.iter().flat_map(|s| s["posts"].as_array().unwrap()) {
        assert_eq!(
            post["status"], 200,
            "{} answered {}: {post}",
            post["path"], post["status"]
        );
    }
    let calls = calls(&report);
    let events = feed_events(&collector, &calls);
    for ((session, call), event) in calls.iter().zip(&events) {
        let label = format!("{} {}", session["name"], call["call"]);
        check_common(&label, event);
        match call["call"].as_str().unwrap() {
            "page" => assert_eq!(event["name"], "Install", "{label}: {event:#}"),
            "track" => assert_eq!(event["event"], "Product Added", "{label}: {event:#}"),
            "identify" => check_identify(&label, event),
            "group" => {
                assert_eq!(event["groupId"], "sg-team-1", "{label}: {event:#}");
                assert_eq!(event["traits"]["name"], "Team One", "{label}: {event:#}");
            }
            "alias" => {
                assert_eq!(
                    event["userId"],
                    stored_user_id("sg-user-2"),
                    "{label}: {event:#}"
                );
                // analytics-next's previousId: the anonymousId, as no user was identified.
                assert!(event["previousId"].is_string(), "{label}: {event:#}");
            }
            other => panic!("unexpected call {other}"),
        }
    }
    let (asked, _) = check_preflights(&report, &SEGMENT_HEADERS);
    assert!(asked.contains("authorization"), "{asked:?}");
    let paths = post_paths(&report);
    for path in ["/v1/b", "/v1/g", "/v1/a"] {
        assert!(paths.contains(path), "no post to {path}: {paths:?}");
    }
    assert_not_raw(&collector.data_dir, &[EMAIL, USER_ID, "sg-user-2"]);
}
