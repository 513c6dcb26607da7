//! Queue bounds: count and byte limits drop the oldest and are counted,
//! in-flight events are kept, old events expire.

use super::*;

#[test]
fn queue_count_bound_drops_oldest_and_counts() {
    let mut cfg = test_config();
    cfg.max_queue_events = 5;
    cfg.flush_at = 100;
    let mut h = harness_with(cfg);
    h.grant(Consent::all());
    h.track_n(8);
    assert_eq!(h.engine.queued(), 5);
    assert_eq!(h.store.event_count(), 5);
    assert_eq!(h.engine.dropped().overflow, 3);
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    let kept: Vec<Value> = msgs.iter().map(|m| m["properties"]["i"].clone()).collect();
    assert_eq!(
        kept,
        vec![json!(3), json!(4), json!(5), json!(6), json!(7)],
        "oldest went first"
    );
    assert_eq!(msgs[0]["context"]["dropped"]["overflow"], 3);
}

#[test]
fn queue_byte_bound_drops_oldest() {
    let mut cfg = test_config();
    cfg.max_queue_bytes = 4_000;
    cfg.flush_at = 100;
    let mut h = harness_with(cfg);
    h.grant(Consent::all());
    let blob = "y".repeat(900);
    for i in 0..10 {
        h.engine
            .track("b", json!({ "i": i, "blob": blob }))
            .unwrap();
    }
    // Each message is ~1.2 KB, so only 3 fit in 4,000 bytes.
    assert_eq!(h.engine.queued(), 3);
    assert_eq!(h.engine.dropped().overflow, 7);
    assert_eq!(h.store.event_count(), 3);
}

#[test]
fn in_flight_events_are_not_evicted() {
    let mut cfg = test_config();
    cfg.max_queue_events = 4;
    let mut h = harness_with(cfg);
    h.grant(Consent::all());
    h.track_n(3);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    h.track_n(3);
    assert_eq!(h.engine.queued(), 4);
    assert_eq!(h.engine.dropped().overflow, 2);
    h.finish(&u, 200);
    assert_eq!(h.engine.queued(), 1);
}

#[test]
fn events_older_than_max_age_expire() {
    let mut h = harness();
    h.track_n(2);
    h.clock.advance(Duration::from_secs(7 * 24 * 3600 - 1));
    h.track_n(1);
    h.clock.advance(Duration::from_secs(2));
    let (u, _) = h.wait_for_upload();
    assert_eq!(u.events, 1);
    assert_eq!(batch(&u)[0]["context"]["dropped"]["expired"], 2);
    assert_eq!(h.store.event_count(), 1);
}
