//! Durability: the sync interval, events surviving a restart, store errors
//! while building a batch, and damaged records on disk.

use super::*;

#[test]
fn writes_are_synced_within_the_sync_interval_and_at_once_on_flush() {
    let mut h = harness();
    let base = h.store.sync_count();
    h.track_n(1);
    assert_eq!(h.store.sync_count(), base, "track() itself does not fsync");
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_millis(200))
    );
    h.clock.advance(Duration::from_millis(150));
    h.track_n(1);
    assert_eq!(
        h.engine.next_upload().unwrap(),
        Next::Wait(Duration::from_millis(50)),
        "deadline of the oldest unsynced write"
    );
    h.clock.advance(Duration::from_millis(50));
    h.engine.next_upload().unwrap();
    assert_eq!(h.store.sync_count(), base + 1);
    h.track_n(1);
    h.engine.on_background().unwrap();
    assert_eq!(h.store.sync_count(), base + 2, "background syncs at once");
}

#[test]
fn queued_events_survive_a_restart_and_are_sent_once() {
    let mut h = harness();
    h.track_n(3);
    h.engine.flush().unwrap();
    let u = h.upload_now();
    let sent = ids(&u);
    drop(h.engine); // killed with the upload in flight: no answer recorded
    let mut e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    assert_eq!(e2.queued(), 3);
    e2.track("after", Value::Null).unwrap();
    e2.flush().unwrap();
    let Next::Upload(u2) = e2.next_upload().unwrap() else {
        panic!("expected upload")
    };
    let ids2 = ids(&u2);
    assert_eq!(
        ids2[..3].to_vec(),
        sent,
        "leftovers first, same messageIds (collector dedups)"
    );
    assert_eq!(ids2.len(), 4);
    e2.upload_finished(u2.id, Outcome::status(200)).unwrap();
    assert_eq!(h.store.event_count(), 0);
}

/// A MemoryStore whose reads and deletes of events fail while `broken` is set.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    broken: std::sync::atomic::AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), Error> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Store("disk on fire".into()));
        }
        Ok(())
    }
}

impl Store for FlakyStore {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        self.inner.put_event(key, value)
    }
    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error> {
        self.check()?;
        self.inner.get_event(key)
    }
    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error> {
        self.check()?;
        self.inner.remove_events(keys)
    }
    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        self.inner.clear_purpose(purpose)
    }
    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error> {
        self.inner.load_events()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.inner.set(key, value)
    }
    fn sync(&self) -> Result<(), Error> {
        self.inner.sync()
    }
}

#[test]
fn a_store_error_while_building_a_batch_keeps_every_event_queued() {
    let store = Arc::new(FlakyStore::default());
    let clock = ManualClock::new(T0);
    let mut e = Engine::new(test_config(), store.clone(), Arc::new(clock.clone())).unwrap();
    e.set_consent(Consent::all()).unwrap();
    deliver_consent_record(&mut e);
    for i in 0..3 {
        e.track("e", json!({ "i": i })).unwrap();
    }
    // One event whose bytes are gone: building must also delete it.
    let lost = store.inner.load_events().unwrap()[1].0;
    store.inner.remove_events(&[lost]).unwrap();
    e.flush().unwrap();
    store
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(e.next_upload(), Err(Error::Store(_))));
    assert_eq!(e.queued(), 3, "nothing left the queue");
    assert_eq!(
        e.oldest_pending_seq(),
        Some(1),
        "seq 0 was the consent record"
    );
    store
        .broken
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let Next::Upload(u) = e.next_upload().unwrap() else {
        panic!("expected an upload")
    };
    let sent: Vec<Value> = batch(&u)
        .iter()
        .map(|m| m["properties"]["i"].clone())
        .collect();
    assert_eq!(
        sent,
        vec![json!(0), json!(2)],
        "in order, the lost one skipped"
    );
}

#[test]
fn damaged_records_fall_back_and_are_rewritten() {
    let h = harness();
    let mut e = h.engine;
    e.track("x", Value::Null).unwrap();
    e.sync().unwrap();
    let anon = e.anonymous_id().to_string();
    let session = e.session_id().to_string();
    drop(e);
    let reopen = || Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();

    // Consent: none, so the stored event is deleted, not sent.
    h.store.set("consent", b"{not json").unwrap();
    let e = reopen();
    assert_eq!(e.consent(), Consent::none());
    assert_eq!((e.queued(), h.store.event_count()), (0, 0));
    assert_eq!(e.session_id(), session);
    assert_eq!(e.anonymous_id(), anon);
    let consent = h.store.get("consent").unwrap().unwrap();
    assert_eq!(
        crate::text::read_consent(&consent).unwrap(),
        Consent::none()
    );

    // Session: a new one.
    h.store.set("session", br#"{"id":7}"#).unwrap();
    let e = reopen();
    assert_ne!(e.session_id(), session);
    let stored = h.store.get("session").unwrap().unwrap();
    assert_eq!(
        crate::text::read_session(&stored).unwrap().id,
        e.session_id()
    );

    // Anonymous id: empty, not UTF-8 or not printable: a new one.
    for bad in [&b""[..], b"\xff\xfe", b"a b"] {
        h.store.set("anonymous_id", bad).unwrap();
        let e = reopen();
        uuid::Uuid::parse_str(e.anonymous_id()).unwrap();
        assert_eq!(
            h.store.get("anonymous_id").unwrap().unwrap(),
            e.anonymous_id().as_bytes()
        );
    }
    // User id not UTF-8: no user.
    h.store.set("user_id", b"\xff").unwrap();
    assert_eq!(reopen().user_id(), None);
}
