//! examples/native, run as a user would, against a collector: its events arrive.

use std::process::Command;
use std::time::Duration;

use cairn_e2e::*;

#[test]
fn native_example_delivers_its_events() {
    let dir = test_dir("example");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let output = Command::new(workspace_bin("cairn-example-native"))
        .env("CAIRN_ENDPOINT", &collector.url)
        .env("CAIRN_WRITE_KEY", WRITE_KEY)
        .env("CAIRN_DATA", dir.join("sdk"))
        .output()
        .expect("run cairn-example-native");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "example failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let anon = stdout
        .trim()
        .strip_prefix("delivered 8 events (anonymousId ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected output: {stdout}"));

    let events = collector.wait_for_events(8, Duration::from_secs(10));
    let names: Vec<String> = events
        .iter()
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
    assert_eq!(events[5]["value"]["properties"]["price"], 89.0);
    assert_eq!(
        events[0]["value"]["context"]["library"]["name"],
        "cairn-rust"
    );
}
