//! The first hour in a browser (issue 11): the demo shop in headless Chromium against
//! the real collector. A write key the collector does not know never loses data
//! silently: flush() rejects with the refusal, the events stay queued, and the same
//! browser delivers them once with the right key. The landing page view happens before
//! the consent banner is answered: it is sent, with its outside referrer, after
//! "Accept all", and nothing but the record of the choice is sent after "Reject".

use cairn_e2e::*;

#[test]
fn demo_shop_wrong_key_and_landing_page_in_chromium() {
    let dir = temp_dir("first-hour");
    let collector = demo_collector(&dir.join("collector"));
    let seen = run_browser_script(
        "first_hour.mjs",
        &[&format!("{}/demo/", collector.url), WRITE_KEY],
    );

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
    assert_eq!(seen["FIXED"]["queued"], 0, "{seen:?}");
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
