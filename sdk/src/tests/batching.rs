//! Batching thresholds: when an upload is due (flush_at, flush_interval,
//! max_batch_bytes, flush), one upload in flight, and deleting sent batches.

use super::*;

#[test]
fn uploads_at_flush_at_events() {
    let mut h = harness();
    h.track_n(19);
    assert!(matches!(h.engine.next_upload().unwrap(), Next::Wait(_)));
    h.track_n(1);
    let u = h.upload_now();
    assert_eq!(u.events, 20);
    assert_eq!(batch(&u).len(), 20);
}

#[test]
fn uploads_flush_interval_after_oldest() {
    let mut h = harness();
    h.track_n(1);
    h.clock.advance(Duration::from_secs(3));
    h.track_n(1); // a newer event does not push the deadline
                  // The first write is 3 s old, so this call syncs and then waits out the 10 s.
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_millis(7_000))
    );
    h.clock.advance(Duration::from_millis(6_999));
    assert!(
        matches!(h.engine.next_upload().unwrap(), Next::Wait(d) if d == Duration::from_millis(1))
    );
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(h.upload_now().events, 2);
}

#[test]
fn uploads_when_batch_would_reach_max_bytes() {
    let mut h = harness();
    let big = "x".repeat(30_000);
    let mut n = 0;
    loop {
        h.engine.track("big", json!({ "blob": big })).unwrap();
        n += 1;
        if let Next::Upload(u) = h.engine.next_upload().unwrap() {
            let mut raw = Vec::new();
            GzDecoder::new(&u.body[..]).read_to_end(&mut raw).unwrap();
            assert!(raw.len() <= 500 * 1024, "body {} bytes", raw.len());
            assert!(n < 20, "size threshold must fire before the count one");
            assert_eq!(n, 17, "17 events of ~30 KB reach 500 KB");
            assert_eq!(u.events, 16, "the batch holds what fits under 500 KB");
            return;
        }
        assert!(n < 20);
    }
}

#[test]
fn flush_and_background_upload_at_once() {
    let mut h = harness();
    h.track_n(1);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    h.finish(&u, 200);
    h.track_n(2);
    h.engine.on_background().unwrap();
    assert_eq!(h.upload_now().events, 2);
}

#[test]
fn a_flush_covers_what_was_tracked_before_it_then_batching_resumes() {
    let mut h = harness();
    h.track_n(2);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    h.track_n(1); // tracked after the flush, while its upload is in flight
    h.finish(&u, 200);
    h.engine.sync().unwrap();
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_secs(10)),
        "batched again: flush_interval after the event"
    );
}

#[test]
fn one_upload_in_flight_at_a_time() {
    let mut h = harness();
    h.track_n(20);
    let u = h.upload_now();
    h.track_n(20);
    h.engine.flush().unwrap();
    assert_eq!(h.engine.next_upload().unwrap(), Next::Idle);
    h.finish(&u, 200);
    let u2 = h.upload_now();
    assert_eq!(u2.events, 20);
    assert!(u2.id != u.id);
}

#[test]
fn success_deletes_the_batch_from_the_store() {
    let mut h = harness();
    h.track_n(20);
    let u = h.upload_now();
    h.track_n(5);
    assert_eq!(h.store.event_count(), 25);
    h.finish(&u, 202);
    assert_eq!(h.store.event_count(), 5);
    assert_eq!(h.engine.queued(), 5);
    // A late or duplicate report changes nothing.
    h.finish(&u, 500);
    assert_eq!(h.engine.queued(), 5);
    assert_eq!(h.engine.failures(), 0);
}
