//! The first hour in a browser (issue 11): the demo shop in headless Chromium against
//! the real collector. A write key the collector does not know never loses data
//! silently: flush() rejects with the refusal, the events stay queued, and the same
//! browser delivers them once with the right key. The landing page view happens before
//! the consent banner is answered: it is sent, with its outside referrer, after
//! "Accept all", and nothing but the record of the choice is sent after "Reject".

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_e2e::*;
use serde_json::Value;

/// The feed's events of one visitor, once `done` says they are all there (or 15 s).
fn visitor_events(
    collector: &CollectorProcess,
    anon: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mine: Vec<Value> = feed_events(collector)
            .into_iter()
            .filter(|e| e["anonymousId"] == anon)
            .collect();
        if done(&mine) || Instant::now() > deadline {
            return mine;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn demo_shop_wrong_key_and_landing_page_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let shop = root.join("examples/web");
    let playwright = root.join("wasm/tests/browser/node_modules/playwright-core/index.mjs");
    assert!(
        shop.join("pkg/cairn.js").exists(),
        "examples/web/pkg is missing: run `bash wasm/build.sh`"
    );
    assert!(
        playwright.exists(),
        "playwright-core is missing: run scripts/install-test-deps.sh"
    );
    let dir = test_dir("first-hour");
    let collector = CollectorProcess::start(
        collector_bin(),
        dir.join("collector"),
        &[
            "--demo-dir",
            shop.to_str().unwrap(),
            "--project-hash-key",
            "demo-hash-key",
        ],
    );
    let out = Command::new("node")
        .arg(root.join("tests/web/first_hour.mjs"))
        .arg(format!("file://{}", playwright.display()))
        .arg(format!("{}/demo/", collector.url))
        .arg(WRITE_KEY)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser part failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: BTreeMap<String, Value> = stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::from_str(v).unwrap_or(Value::Null),
            )
        })
        .collect();

    // A wrong key: said, and kept.
    let refused = &seen["WRONG_KEY"];
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("401") || error.contains("refused"),
        "{refused}"
    );
    assert!(
        refused["queued"].as_u64().unwrap() >= 2,
        "events kept: {refused}"
    );
    // The right key delivers them, once.
    let anon = refused["anon"].as_str().unwrap();
    assert_eq!(seen["FIXED"]["anon"], anon, "the same browser");
    assert_eq!(seen["FIXED"]["queued"], 0, "{stdout}");
    let mine = visitor_events(&collector, anon, |m| {
        m.iter().any(|e| e["event"] == "add_to_cart")
    });
    let count = |n: &str| mine.iter().filter(|e| e["event"] == n).count();
    assert_eq!(count("add_to_cart"), 1, "{mine:#?}");
    assert!(count("consent_changed") >= 1);

    // The landing page view arrives after "Accept all", with its referrer.
    let anon = seen["ACCEPTED"]["anon"].as_str().unwrap();
    let mine = visitor_events(&collector, anon, |m| m.iter().any(|e| e["type"] == "page"));
    let landing = mine
        .iter()
        .find(|e| e["type"] == "page")
        .expect("the landing page view");
    assert_eq!(
        landing["properties"]["referrer"], "https://search.example/?q=trail+shoes",
        "{landing}"
    );
    assert_eq!(
        mine[0]["event"], "consent_changed",
        "the choice first, then the view"
    );
    // After "Reject": the record of the choice only.
    let anon = seen["REJECTED"]["anon"].as_str().unwrap();
    let mine = visitor_events(&collector, anon, |m| !m.is_empty());
    assert_eq!(mine.len(), 1, "{mine:#?}");
    assert_eq!(mine[0]["event"], "consent_changed");
    assert_eq!(mine[0]["properties"]["analytics"], false);
}
