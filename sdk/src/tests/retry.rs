//! Retry rules: seeded full-jitter backoff, which answers are retried,
//! Retry-After, splitting on 413, pausing on a refused key and dropping other
//! 4xx batches.

use super::*;
use crate::backoff::Backoff;

#[test]
fn backoff_schedule_is_exponential_full_jitter_and_seeded() {
    let mut h = harness();
    h.track_n(1);
    h.engine.flush().unwrap();
    let first = h.upload_now();
    let sent_ids = ids(&first);
    let mut expected = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(300),
        Duration::from_secs(3600),
        7,
    );
    let mut u = first;
    let mut waits = Vec::new();
    for attempt in 1..=10u32 {
        h.finish(&u, 503);
        h.engine.sync().unwrap(); // so the answer is the backoff, not the sync deadline
        assert_eq!(h.engine.failures(), attempt);
        let want = expected.fail(None);
        // Nothing goes out before the backoff ends.
        match h.engine.next_upload().unwrap() {
            Next::Wait(d) => assert_eq!(d, want, "attempt {attempt}"),
            other => panic!("expected wait, got {other:?}"),
        }
        let ceiling = expected.ceiling(attempt);
        assert!(want <= ceiling, "attempt {attempt}: {want:?} > {ceiling:?}");
        let (next, waited) = h.wait_for_upload();
        assert_eq!(waited, want.max(Duration::from_millis(1)));
        assert_eq!(ids(&next), sent_ids, "the same events are retried");
        waits.push(want);
        u = next;
    }
    // The ceilings grew: late attempts may wait far longer than the first second.
    assert!(waits.iter().skip(5).any(|w| *w > Duration::from_secs(2)));
    h.finish(&u, 200);
    assert_eq!(h.engine.failures(), 0);
    assert_eq!(h.store.event_count(), 0);
}

#[test]
fn retries_408_429_and_transport_errors() {
    for outcome in [
        Outcome::status(408),
        Outcome::status(429),
        Outcome::status(500),
        Outcome::Transport("connection refused".into()),
    ] {
        let mut h = harness();
        h.track_n(3);
        h.engine.flush().unwrap();
        let u = h.upload_now();
        h.engine.upload_finished(u.id, outcome.clone()).unwrap();
        assert_eq!(h.engine.queued(), 3, "{outcome:?} keeps the events");
        assert_eq!(h.store.event_count(), 3);
        let (again, _) = h.wait_for_upload();
        assert_eq!(ids(&again), ids(&u), "{outcome:?} retries the same batch");
    }
}

#[test]
fn honours_retry_after() {
    let mut h = harness();
    h.track_n(2);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    let ra = Some(Duration::from_secs(30));
    h.engine
        .upload_finished(
            u.id,
            Outcome::Status {
                code: 429,
                retry_after: ra,
            },
        )
        .unwrap();
    h.engine.sync().unwrap();
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_secs(30))
    );
    h.clock.advance(Duration::from_millis(29_999));
    assert!(matches!(h.engine.next_upload().unwrap(), Next::Wait(_)));
    h.clock.advance(Duration::from_millis(1));
    let again = h.upload_now();
    assert_eq!(ids(&again), ids(&u));
    // 503 + Retry-After (load shedding) is honoured the same way.
    h.engine
        .upload_finished(
            again.id,
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(5)),
            },
        )
        .unwrap();
    h.engine.sync().unwrap();
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_secs(5))
    );
}

#[test]
fn a_zero_or_past_retry_after_waits_at_least_backoff_base() {
    let mut h = harness();
    h.track_n(1);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    let zero = Outcome::Status {
        code: 429,
        retry_after: Some(Duration::ZERO),
    };
    h.engine.upload_finished(u.id, zero).unwrap();
    h.engine.sync().unwrap();
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_secs(1))
    );
}

#[test]
fn payload_too_large_splits_in_halves_then_drops_a_single_event() {
    let mut h = harness();
    h.track_n(20);
    let u = h.upload_now();
    let all = ids(&u);
    h.finish(&u, 413);
    let a = h.upload_now();
    assert_eq!(ids(&a), all[..10].to_vec());
    h.finish(&a, 200);
    let b = h.upload_now();
    assert_eq!(ids(&b), all[10..].to_vec());
    h.finish(&b, 413);
    let c = h.upload_now();
    assert_eq!(ids(&c), all[10..15].to_vec());
    h.finish(&c, 200);
    let d = h.upload_now();
    assert_eq!(ids(&d), all[15..].to_vec());
    h.finish(&d, 200);
    assert_eq!(h.store.event_count(), 0);

    // A single event that still gets 413 is dropped and counted.
    h.track_n(1);
    h.engine.flush().unwrap();
    let one = h.upload_now();
    h.finish(&one, 413);
    assert_eq!(h.engine.queued(), 0);
    assert_eq!(h.store.event_count(), 0);
    assert_eq!(h.engine.dropped().too_large, 1);
    h.track_n(1);
    h.engine.flush().unwrap();
    let next = h.upload_now();
    assert_eq!(batch(&next)[0]["context"]["dropped"]["too_large"], 1);
    h.finish(&next, 200);
    assert_eq!(h.engine.dropped(), Dropped::default());
}

#[test]
fn other_4xx_drops_the_batch_and_reports_it() {
    let mut h = harness();
    h.track_n(4);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    h.finish(&u, 400);
    assert_eq!(h.engine.queued(), 0);
    assert_eq!(h.store.event_count(), 0);
    assert_eq!(h.engine.failures(), 0, "not retried");
    assert_eq!(h.engine.dropped().rejected, 4);
    h.track_n(2);
    h.engine.flush().unwrap();
    let next = h.upload_now();
    let msgs = batch(&next);
    assert_eq!(
        msgs[0]["context"]["dropped"],
        json!({"overflow":0,"expired":0,"rejected":4,"too_large":0})
    );
    assert!(
        msgs[1]["context"].get("dropped").is_none(),
        "counted once, on the first message"
    );
    // Retried batches still report; only a delivered one clears the counters.
    h.finish(&next, 503);
    let (again, _) = h.wait_for_upload();
    assert_eq!(batch(&again)[0]["context"]["dropped"]["rejected"], 4);
    h.finish(&again, 200);
    assert_eq!(h.engine.dropped().total(), 0);
}

#[test]
fn a_refused_write_key_keeps_the_queue_and_pauses_uploads() {
    for code in [401, 403] {
        let mut h = harness();
        h.track_n(3);
        h.engine.flush().unwrap();
        let u = h.upload_now();
        h.finish(&u, code);
        assert_eq!(h.engine.key_refused(), Some(code));
        assert_eq!(h.engine.queued(), 3, "nothing dropped");
        assert_eq!(h.engine.dropped(), Dropped::default());
        assert!(
            h.engine.retry_in().unwrap() >= h.engine.config().backoff_cap,
            "paused for the longest backoff"
        );
        // The key is fixed on the server: the next attempt delivers everything.
        let (retry, waited) = h.wait_for_upload();
        assert!(waited >= h.engine.config().backoff_cap);
        assert_eq!(retry.events, 3);
        h.finish(&retry, 200);
        assert_eq!(h.engine.key_refused(), None);
        assert_eq!(h.engine.queued(), 0);
    }
}
