//! Opt-in by default: before consent, tracking sends nothing and stores nothing.

use std::time::Duration;

use cairn::{Consent, Event, Purpose, SledStore, Tracked};
use cairn_e2e::*;
use serde_json::json;

#[test]
fn consent_denied_sends_and_stores_nothing() {
    let dir = temp_dir("consent");
    let sdk_dir = dir.join("sdk");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let client = client(&rt, opt_in_config(&collector.url), &sdk_dir);
    // A marker no other bytes contain, to look for in the store's files.
    let denied = format!("denied-marker-{}", std::process::id());
    let granted = format!("granted-marker-{}", std::process::id());

    // No set_consent yet: every call is refused for lack of consent.
    for n in 0..25 {
        let t = client
            .track("e2e_denied", json!({"marker": denied, "n": n}))
            .unwrap();
        assert_eq!(t, Tracked::NoConsent(Purpose::Analytics));
    }
    // The page view before the choice is held in memory only (never stored) and
    // sent when analytics is granted (the landing page survives the banner).
    let held = format!("held-marker-{}", std::process::id());
    let t = client.page("Home", json!({"marker": held})).unwrap();
    assert_eq!(t, Tracked::NoConsent(Purpose::Analytics));
    let t = client
        .track_event(
            Event::hide_item("sku-1")
                .with("marker", denied.as_str())
                .purpose(Purpose::Personalization),
        )
        .unwrap();
    assert_eq!(t, Tracked::NoConsent(Purpose::Personalization));
    let t = client
        .identify("user-denied", json!({"marker": denied}))
        .unwrap();
    assert!(matches!(t, Tracked::NoConsent(_)), "{t:?}");
    rt.block_on(client.flush())
        .expect("flush with nothing queued");
    assert_eq!(client.with_engine(|e| e.queued()), 0);
    client.with_engine(|e| e.sync()).unwrap();
    for marker in [&denied, &held] {
        assert_eq!(
            files_containing(&sdk_dir, marker.as_bytes()),
            Vec::<std::path::PathBuf>::new(),
            "the store holds bytes of events tracked without consent"
        );
    }

    // The control: the same client with consent stores (the scan sees it) and sends.
    client
        .set_consent(Consent::only(&[Purpose::Analytics]))
        .unwrap();
    let t = client
        .track("e2e_granted", json!({"marker": granted}))
        .unwrap();
    assert_eq!(t, Tracked::Queued);
    client.with_engine(|e| e.sync()).unwrap();
    assert!(
        !files_containing(&sdk_dir, granted.as_bytes()).is_empty(),
        "the scan must see an event stored with consent"
    );
    rt.block_on(client.flush()).expect("flush");
    // The choice, the held page view, then the event tracked with consent.
    let events = collector.wait_for_events(3, Duration::from_secs(10));
    let feed = serde_json::to_string(&collector.feed(0)).unwrap();
    assert_eq!(events.len(), 3, "{feed}");
    assert_eq!(events[0]["value"]["event"], "consent_changed");
    assert_eq!(events[1]["value"]["type"], "page");
    assert_eq!(events[1]["value"]["properties"]["marker"], held.as_str());
    assert_eq!(events[2]["value"]["event"], "e2e_granted");
    assert_eq!(events[2]["value"]["properties"]["marker"], granted.as_str());
    assert!(
        !feed.contains(&denied),
        "a denied event reached the collector"
    );

    // And a second run on the same store finds nothing queued from before consent.
    rt.block_on(client.shutdown(Duration::from_secs(5)))
        .unwrap();
    drop(client);
    let store = SledStore::open(&sdk_dir).unwrap();
    let reopened = cairn::Engine::new(
        opt_in_config(&collector.url),
        std::sync::Arc::new(store),
        std::sync::Arc::new(cairn::SystemClock),
    )
    .unwrap();
    assert_eq!(reopened.queued(), 0);
    assert_eq!(reopened.consent(), Consent::only(&[Purpose::Analytics]));
    drop(reopened);
    assert_eq!(
        files_containing(&sdk_dir, denied.as_bytes()),
        Vec::<std::path::PathBuf>::new()
    );
}

/// The consent record (`consent_changed`) reaches the feed on every change, and a
/// revoked purpose's events never do: neither those queued before the revoke
/// (purged on the device) nor those tracked after it (refused at the call).
#[test]
fn consent_changed_reaches_the_feed_and_a_revoked_purpose_does_not() {
    let dir = temp_dir("consent-record");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let client = client(&rt, opt_in_config(&collector.url), &dir.join("sdk"));
    let personal = |n: u32| {
        Event::track("e2e_personal", json!({ "n": n }))
            .unwrap()
            .purpose(Purpose::Personalization)
    };

    client.set_consent(Consent::all()).unwrap();
    client.track_event(personal(0)).unwrap();
    flush_until_delivered(&rt, &client, Duration::from_secs(10));
    // Queued, never flushed: the revoke purges it on the device.
    client.track_event(personal(1)).unwrap();
    client
        .set_consent(Consent::only(&[Purpose::Analytics]))
        .unwrap();
    assert_eq!(
        client.track_event(personal(2)).unwrap(),
        Tracked::NoConsent(Purpose::Personalization)
    );
    client.track("e2e_analytics", json!({})).unwrap();
    flush_until_delivered(&rt, &client, Duration::from_secs(10));

    let events = collector.wait_for_events(4, Duration::from_secs(10));
    let names: Vec<&str> = events
        .iter()
        .map(|r| r["value"]["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "consent_changed",
            "e2e_personal",
            "consent_changed",
            "e2e_analytics"
        ],
        "{events:#?}"
    );
    let revoke = &events[2]["value"];
    assert_eq!(revoke["context"]["purpose"], "consent");
    assert_eq!(
        revoke["properties"],
        json!({"analytics": true, "personalization": false, "marketing": false})
    );
    assert_eq!(events[1]["value"]["properties"]["n"], 0);
    let after_revoke = &events[3..];
    assert!(after_revoke
        .iter()
        .all(|r| r["value"]["context"]["purpose"] != "personalization"));
}

/// Refusing everything still records the choice: the consent record is sent (and
/// nothing else), so downstream learns to forget the user. The record of the grant
/// before it was queued under analytics and purged with it: the newer record
/// supersedes it.
#[test]
fn refusing_everything_sends_only_the_consent_record() {
    let dir = temp_dir("consent-refuse-all");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let client = client(&rt, opt_in_config(&collector.url), &dir.join("sdk"));
    client.set_consent(Consent::all()).unwrap();
    client.track("e2e_before", json!({})).unwrap();
    client.set_consent(Consent::none()).unwrap();
    assert!(matches!(
        client.track("e2e_after", json!({})).unwrap(),
        Tracked::NoConsent(_)
    ));
    flush_until_delivered(&rt, &client, Duration::from_secs(10));
    let events = collector.wait_for_events(1, Duration::from_secs(10));
    let props: Vec<&serde_json::Value> = events.iter().map(|r| &r["value"]["properties"]).collect();
    assert_eq!(
        props,
        [&json!({"analytics": false, "personalization": false, "marketing": false})],
        "only the refusal's record: the event tracked before it was purged"
    );
    assert_eq!(events[0]["value"]["event"], "consent_changed");
}
