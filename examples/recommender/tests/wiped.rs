//! A collector that was wiped (its data dir gone, started again on the same address):
//! its feed ends below the cursor the recommender persisted, or holds other records
//! there. The recommender notices when the collector comes back (it checks that the
//! feed still holds the record at its cursor, with the same fingerprint) and rebuilds
//! its model from cursor 0 of the new feed, instead of waiting for cursors it already
//! passed or skipping the new collector's first records.

mod support;

use serde_json::Value;
use support::*;

fn views(user: &str, n: usize, offset: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            track(
                Some(user),
                &format!("anon-{user}"),
                "product_viewed",
                product(&format!("p{}", i + offset), "c", 10.0),
                true,
            )
        })
        .collect()
}

fn events(reco: &Reco) -> u64 {
    reco.ok("/api/v1/stats")["totals"]["events"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_wiped_collector_is_detected_and_the_model_rebuilt_from_its_feed() {
    let dir = cairn_testkit::temp_dir("reco-wiped");
    let mut collector = collector(&dir.join("collector-a"));
    let mut reco = Reco::start(&dir.join("reco"), &collector.url, &["--api-key", API_KEY]);
    post(&collector, views("old-user", 30, 0));
    reco.catch_up(&collector);
    assert_eq!(events(&reco), 30);
    assert_eq!(reco.get("/api/v1/users/old-user/profile").0, 200);

    // 1. Wiped while the recommender runs: a new collector on the same address with an
    // empty data dir, whose feed (5 records) ends below the cursor (30).
    let addr = collector.addr;
    collector.kill9();
    let fresh = CollectorProcess::start_on(
        cairn_testkit::collector_bin(),
        dir.join("collector-b"),
        addr,
        &[],
    );
    post(&fresh, views("new-user", 5, 100));
    wait_for("the model rebuilt from the new feed", || {
        let s = reco.ok("/api/v1/stats");
        (s["rebuilds"] == 1 && s["totals"]["events"] == 5 && s["cursor"] == 5).then_some(())
    });
    assert_eq!(reco.get("/api/v1/users/old-user/profile").0, 404);
    assert_eq!(
        reco.ok("/api/v1/users/new-user/profile")["event_counts"]["product_viewed"],
        5
    );

    // 2. Wiped while the recommender is down, and refilled past its cursor: the record
    // at the persisted cursor is another one (another fingerprint).
    post(&fresh, views("new-user", 5, 200));
    reco.catch_up(&fresh);
    assert!(
        reco.terminate().success(),
        "a graceful stop writes the snapshot"
    );
    drop(fresh);
    let refilled = CollectorProcess::start_on(
        cairn_testkit::collector_bin(),
        dir.join("collector-c"),
        addr,
        &[],
    );
    post(&refilled, views("third-user", 25, 300));
    reco.restart();
    wait_for("the model rebuilt from the refilled feed", || {
        let s = reco.ok("/api/v1/stats");
        (s["rebuilds"] == 1 && s["totals"]["events"] == 25 && s["cursor"] == 25).then_some(())
    });
    assert_eq!(reco.get("/api/v1/users/new-user/profile").0, 404);
    assert_eq!(
        reco.ok("/api/v1/users/third-user/profile")["event_counts"]["product_viewed"],
        25
    );

    // 3. The same collector restarted (not wiped): nothing is rebuilt.
    let mut same = refilled;
    same.restart();
    post(&same, views("third-user", 3, 400));
    reco.catch_up(&same);
    let s = reco.ok("/api/v1/stats");
    assert_eq!(s["rebuilds"], 1, "{s}");
    assert_eq!(s["totals"]["events"], 28, "{s}");
}
