//! Consent: nothing stored without it, opt-out mode, and purging what a
//! revoked purpose queued, now and after a restart.

use super::*;

#[test]
fn opt_in_by_default_stores_nothing_without_consent() {
    let mut h = harness_with(test_config());
    assert_eq!(h.engine.consent(), Consent::none());
    assert_eq!(
        h.engine.track("x", json!({})).unwrap(),
        Tracked::NoConsent(Purpose::Analytics)
    );
    h.engine.identify("u1", json!({"email":"a@b.c"})).unwrap();
    assert_eq!(h.store.event_count(), 0);
    h.engine.flush().unwrap();
    assert_eq!(h.engine.next_upload().unwrap(), Next::Idle);

    h.engine
        .set_consent(Consent::only(&[Purpose::Analytics]))
        .unwrap();
    assert_eq!(h.engine.track("x", json!({})).unwrap(), Tracked::Queued);
    let m = Event::wishlist_add("p").purpose(Purpose::Marketing);
    assert_eq!(
        h.engine.track_event(m).unwrap(),
        Tracked::NoConsent(Purpose::Marketing)
    );
    // The event and the consent record.
    assert_eq!(h.store.event_count(), 2);
}

#[test]
fn opt_out_mode_collects_until_revoked() {
    let mut cfg = test_config();
    cfg.consent_mode = ConsentMode::OptOut;
    let mut h = harness_with(cfg);
    assert_eq!(h.engine.track("x", Value::Null).unwrap(), Tracked::Queued);
}

#[test]
fn revoking_purges_queued_and_in_flight_events_and_persists() {
    let mut h = harness();
    h.track_n(3);
    for i in 0..3 {
        let e = Event::hide_item(&format!("p{i}")).purpose(Purpose::Personalization);
        h.engine.track_event(e).unwrap();
    }
    h.engine.flush().unwrap();
    let inflight = h.upload_now();
    assert_eq!(inflight.events, 6);
    for i in 0..2 {
        let e = Event::hide_item(&format!("q{i}")).purpose(Purpose::Personalization);
        h.engine.track_event(e).unwrap();
    }
    assert_eq!(h.store.event_count(), 8);
    let syncs = h.store.sync_count();

    h.engine
        .set_consent(Consent::only(&[Purpose::Analytics, Purpose::Marketing]))
        .unwrap();
    // Gone from the store before set_consent returned, and synced; the consent
    // record of the change is queued.
    assert_eq!(h.store.event_count(), 4);
    assert!(h.store.sync_count() > syncs);
    assert_eq!(h.engine.queued(), 4);
    // The in-flight batch fails; its retry no longer carries the revoked events.
    h.finish(&inflight, 503);
    let (retry, _) = h.wait_for_upload();
    let msgs = batch(&retry);
    assert_eq!(msgs.len(), 4);
    assert!(msgs[..3]
        .iter()
        .all(|m| m["context"]["purpose"] == "analytics"));
    assert_eq!(msgs[3]["event"], "consent_changed");
    assert_eq!(msgs[3]["context"]["purpose"], "consent");
    assert_eq!(
        msgs[3]["properties"],
        json!({"analytics": true, "personalization": false, "marketing": true})
    );
    assert!(
        msgs[..3]
            .iter()
            .all(|m| m["context"]["consent"]["personalization"] == true),
        "tracked while granted, so sent with the consent of the time"
    );

    // The state survives a restart; revoked events do not come back.
    drop(h.engine);
    let e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    assert_eq!(
        e2.consent(),
        Consent::only(&[Purpose::Analytics, Purpose::Marketing])
    );
    assert_eq!(e2.queued(), 4);
}

#[test]
fn revoking_keeps_the_other_purposes_queued_in_order() {
    use Purpose::{Analytics as A, Marketing as M, Personalization as P};
    let mut h = harness();
    for (i, p) in [A, P, M, P, A, M].into_iter().enumerate() {
        let name = format!("e{i}");
        h.engine.track_json(EventKind::Track, &name, "", p).unwrap();
    }
    h.engine.set_consent(Consent::only(&[A, M])).unwrap();
    let sizes: usize = h.engine.queue.iter().map(|e| e.size as usize).sum();
    assert_eq!(h.engine.queue_bytes, sizes);
    h.engine.flush().unwrap();
    let (u, _) = h.wait_for_upload();
    let names: Vec<Value> = batch(&u).iter().map(|m| m["event"].clone()).collect();
    assert_eq!(names, ["e0", "e2", "e4", "e5", "consent_changed"]);
}

#[test]
fn restart_drops_stored_events_whose_purpose_is_no_longer_consented() {
    let h = harness();
    // A stored marketing event that the persisted consent no longer covers
    // (as after switching the consent mode).
    let mut e = h.engine;
    e.track_event(Event::signup("x").purpose(Purpose::Marketing))
        .unwrap();
    h.store
        .set(
            "consent",
            br#"{"analytics":true,"personalization":true,"marketing":false}"#,
        )
        .unwrap();
    drop(e);
    let e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    assert_eq!(e2.queued(), 0);
    assert_eq!(h.store.event_count(), 0);
}

#[test]
fn the_view_before_consent_is_held_in_memory_and_sent_on_accept() {
    let mut h = harness_with(test_config());
    h.engine
        .page("Landing", json!({"referrer": "https://search.example/"}))
        .unwrap();
    let at = h.clock.now_millis();
    assert_eq!(h.store.event_count(), 0, "held in memory, never stored");
    h.clock.advance(Duration::from_secs(5)); // the visitor reads the banner
    h.engine
        .set_consent(Consent::only(&[Purpose::Analytics]))
        .unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["event"], "consent_changed");
    assert_eq!(msgs[1]["type"], "page");
    assert_eq!(msgs[1]["name"], "Landing");
    assert_eq!(msgs[1]["properties"]["referrer"], "https://search.example/");
    assert_eq!(
        msgs[1]["timestamp"],
        crate::text::rfc3339_millis(at),
        "when it was viewed, not when consent came"
    );
}

#[test]
fn the_held_view_is_dropped_on_reject_and_only_the_choice_is_sent() {
    let mut h = harness_with(test_config());
    h.engine.page("Landing", json!({})).unwrap();
    // Rejecting from the initial state is a choice: its record is sent.
    h.engine.set_consent(Consent::none()).unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["event"], "consent_changed");
    assert_eq!(
        msgs[0]["properties"],
        json!({"analytics": false, "personalization": false, "marketing": false})
    );
    // A later grant finds no view held.
    h.engine.set_consent(Consent::all()).unwrap();
    assert_eq!(h.engine.queued(), 2, "the second consent record only");
}
