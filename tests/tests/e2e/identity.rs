//! identify() through the SDK: the userId and e-mail are hashed on the device (HMAC
//! under the app's hash key), then re-keyed by the collector (HMAC under its secret).

use std::time::Duration;

use cairn::Tracked;
use cairn_e2e::*;
use serde_json::json;

#[test]
fn identify_arrives_hashed_twice() {
    let dir = temp_dir("identify");
    let sdk_dir = dir.join("sdk");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let client = client(&rt, config(&collector.url), &sdk_dir);

    let user = "e2e-user-4242";
    let email = "  Alice.E2E@Example.COM ";
    let t = client
        .identify(user, json!({"email": email, "plan": "pro"}))
        .unwrap();
    assert_eq!(t, Tracked::Queued);
    client.track("e2e_after_identify", json!({})).unwrap();
    rt.block_on(client.flush()).expect("flush");

    let device_user = hmac_hex(DEVICE_HASH_KEY, user);
    let device_email = hmac_hex(DEVICE_HASH_KEY, "alice.e2e@example.com");
    let expected_user = hmac_hex(HASH_SECRET, &device_user);
    let expected_email = hmac_hex(HASH_SECRET, &device_email);

    let events = collector.wait_for_events(2, Duration::from_secs(10));
    assert_eq!(events.len(), 2);
    let identify = &events[0]["value"];
    assert_eq!(identify["type"], "identify");
    assert_eq!(identify["userId"], expected_user.as_str());
    assert_eq!(identify["traits"]["email"], expected_email.as_str());
    assert_eq!(identify["traits"]["plan"], "pro");
    let track = &events[1]["value"];
    assert_eq!(track["type"], "track");
    assert_eq!(track["userId"], expected_user.as_str());
    assert_eq!(track["anonymousId"], identify["anonymousId"]);

    // The raw identifiers are nowhere: not in the feed, not in either data dir, and
    // the device-side hashes are not in the collector's files either.
    let feed = serde_json::to_string(&collector.feed(0)).unwrap();
    for raw in [user, "alice.e2e@example.com", "Alice.E2E@Example.COM"] {
        assert!(!feed.contains(raw), "{raw} in the feed");
    }
    rt.block_on(client.shutdown(Duration::from_secs(5)))
        .unwrap();
    drop(client);
    for raw in [user, "alice.e2e@example.com", "Alice.E2E@Example.COM"] {
        assert_eq!(
            files_containing(&sdk_dir, raw.as_bytes()),
            Vec::<std::path::PathBuf>::new(),
            "{raw} in the SDK store"
        );
        assert_eq!(
            files_containing(&dir.join("collector"), raw.as_bytes()),
            Vec::<std::path::PathBuf>::new(),
            "{raw} in the collector store"
        );
    }
    for device_hash in [&device_user, &device_email] {
        assert!(
            !feed.contains(device_hash.as_str()),
            "device-side hash in the feed"
        );
    }
}
