//! Clock rules: jumps backwards, huge durations and future stamps on disk
//! never stall or wrap.

use super::*;

#[test]
fn a_clock_jumping_backwards_does_not_stall_uploads() {
    let mut h = harness();
    h.track_n(1);
    h.engine.sync().unwrap();
    h.clock.advance(Duration::from_secs(2));
    h.clock.set(T0 - 24 * 3600 * 1000); // a day back
                                        // Following the Waits (no flush) sends the event at once, not a day later.
    let (u, waited) = h.wait_for_upload();
    assert_eq!(waited, Duration::ZERO);
    h.engine
        .upload_finished(
            u.id,
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(60)),
            },
        )
        .unwrap();
    h.engine.sync().unwrap();
    h.clock.set(T0 - 48 * 3600 * 1000); // another day back
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_secs(3600))
    );
}

#[test]
fn a_clock_jumping_backwards_does_not_stall_syncs_or_sessions() {
    let mut h = harness();
    h.clock.advance(Duration::from_secs(60));
    h.track_n(1); // written (and the session active) at T0 + 60 s
    let s1 = h.engine.session_id().to_string();
    h.clock.set(T0); // a minute back
    let syncs = h.store.sync_count();
    h.engine.next_upload().unwrap();
    assert_eq!(
        h.store.sync_count(),
        syncs + 1,
        "a future write syncs at once"
    );
    h.track_n(1); // activity now: the session timeout runs from T0
    h.clock.advance(Duration::from_secs(30 * 60 + 1));
    h.track_n(1);
    assert_ne!(
        h.engine.session_id(),
        s1,
        "30 min idle by the clock as it is now"
    );
}

#[test]
fn huge_durations_saturate_instead_of_wrapping() {
    let mut cfg = test_config();
    cfg.flush_interval = Duration::MAX;
    cfg.session_timeout = Duration::MAX;
    cfg.max_event_age = Duration::MAX;
    cfg.sync_interval = Duration::MAX;
    let mut h = harness_with(cfg);
    h.grant(Consent::all());
    h.track_n(1);
    let s1 = h.engine.session_id().to_string();
    h.clock.advance(Duration::from_secs(365 * 24 * 3600));
    h.track_n(1);
    assert_eq!(h.engine.session_id(), s1, "never times out");
    assert!(matches!(h.engine.next_upload().unwrap(), Next::Wait(_)));
    assert_eq!(h.engine.queued(), 2, "never expires");
    assert_eq!(h.engine.dropped().expired, 0);
    h.clock.advance(Duration::MAX); // saturates at the end of time
    h.engine.flush().unwrap();
    assert_eq!(h.upload_now().events, 2);
}

#[test]
fn a_future_stamp_on_disk_counts_as_now() {
    let mut h = harness();
    h.track_n(1);
    let (key, mut value) = h.store.load_events().unwrap().remove(0);
    value[1..9].copy_from_slice(&i64::MAX.to_be_bytes()); // damaged enqueue time
    h.store.put_event(key, &value).unwrap();
    drop(h.engine);
    let mut e = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    e.sync().unwrap();
    assert_eq!(
        e.next_upload().unwrap(),
        Next::Wait(Duration::from_secs(10)),
        "due flush_interval from now"
    );
    h.clock.advance(Duration::from_secs(10));
    assert!(matches!(e.next_upload().unwrap(), Next::Upload(_)));
}
