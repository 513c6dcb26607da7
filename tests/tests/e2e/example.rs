//! examples/native, run as a user would, against a collector: its events arrive; with
//! a key the collector does not know it says so, keeps them, and delivers them once
//! the key is right.

use std::process::Command;
use std::time::Duration;

use cairn_e2e::*;

#[test]
fn native_example_delivers_its_events() {
    let dir = temp_dir("example");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let run = |key: &str| {
        Command::new(workspace_bin("cairn-example-native"))
            .env("CAIRN_ENDPOINT", &collector.url)
            .env("CAIRN_WRITE_KEY", key)
            .env("CAIRN_HASH_KEY", PROJECT_HASH_KEY)
            .env("CAIRN_DATA", dir.join("sdk"))
            .output()
            .expect("run cairn-example-native")
    };
    // A key the collector does not know: not delivered, said, and kept.
    let refused = run("wk_unknown");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("NOT delivered") && stdout.contains("401"),
        "{stdout}"
    );
    assert!(stdout.contains("9 events stay queued"), "{stdout}");
    assert_eq!(feed_events(&collector).len(), 0);

    // The right key: the next run delivers what was kept, and its own events, once.
    let output = run(WRITE_KEY);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "example failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let anon = stdout
        .trim()
        .strip_prefix("delivered 17 events (anonymousId ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected output: {stdout}"));

    let events = collector.wait_for_events(17, Duration::from_secs(10));
    let names: Vec<String> = events
        .iter()
        .take(9)
        .map(|r| {
            let v = &r["value"];
            assert_eq!(v["anonymousId"], anon, "{v}");
            let name = v["event"].as_str().or(v["name"].as_str()).unwrap_or("");
            format!("{}:{name}", v["type"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        names,
        [
            "track:consent_changed",
            "identify:",
            "page:Home",
            "track:search",
            "track:search_result_click",
            "track:product_viewed",
            "track:add_to_cart",
            "track:purchase",
            "track:custom_event",
        ]
    );
    assert_eq!(events[6]["value"]["properties"]["price"], 89.0);
    assert_eq!(
        events[6]["value"]["properties"]["category"],
        "perfume/woody"
    );
    // The second run's consent call is no change (no second record): 9 + 8 events.
    assert_eq!(events.len(), 17);
    let user = stored_user_id("user-42");
    assert!(events[1..]
        .iter()
        .all(|r| r["value"]["userId"] == user.as_str()));
    assert_eq!(
        events[0]["value"]["context"]["library"]["name"],
        "cairn-rust"
    );
}
