//! Engine rules, each checked on a `ManualClock` with a `MemoryStore`: no sleeps,
//! no network. Every test drives the same `next_upload` / `upload_finished` loop
//! a real driver runs.

use crate::backoff::Backoff;
use crate::*;
use flate2::read::GzDecoder;
use serde_json::{json, Value};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_762_000_000_000; // 2025-11-01T12:26:40Z

struct Harness {
    engine: Engine,
    store: Arc<MemoryStore>,
    clock: ManualClock,
}

fn test_config() -> Config {
    let mut cfg = Config::new("wk_test", "http://collector.test/");
    cfg.hash_key = "test-hash-key".into();
    cfg.rng_seed = Some(7);
    cfg
}

fn harness_with(cfg: Config) -> Harness {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let engine = Engine::new(cfg, store.clone(), Arc::new(clock.clone())).unwrap();
    Harness {
        engine,
        store,
        clock,
    }
}

/// An engine with every purpose granted.
fn harness() -> Harness {
    let mut h = harness_with(test_config());
    h.engine.set_consent(Consent::all()).unwrap();
    h
}

impl Harness {
    fn track_n(&mut self, n: usize) {
        for i in 0..n {
            assert_eq!(
                self.engine.track("e", json!({ "i": i })).unwrap(),
                Tracked::Queued
            );
        }
    }

    /// Asks once; panics unless the answer is an upload.
    fn upload_now(&mut self) -> Upload {
        match self.engine.next_upload().unwrap() {
            Next::Upload(u) => u,
            other => panic!("expected an upload, got {other:?}"),
        }
    }

    /// Follows `Wait`s on the clock until an upload comes; returns it and the time waited.
    fn wait_for_upload(&mut self) -> (Upload, Duration) {
        let start = self.clock.now_millis();
        for _ in 0..100 {
            match self.engine.next_upload().unwrap() {
                Next::Upload(u) => {
                    return (
                        u,
                        Duration::from_millis((self.clock.now_millis() - start) as u64),
                    )
                }
                Next::Wait(d) => self.clock.advance(d.max(Duration::from_millis(1))),
                Next::Idle => panic!("idle while waiting for an upload"),
            }
        }
        panic!("no upload after 100 steps")
    }

    /// Upload waits (ignoring the short sync waits) until the next upload is due.
    fn finish(&mut self, u: &Upload, code: u16) {
        self.engine
            .upload_finished(u.id, Outcome::status(code))
            .unwrap();
    }
}

fn decode(u: &Upload) -> Value {
    let mut s = String::new();
    GzDecoder::new(&u.body[..]).read_to_string(&mut s).unwrap();
    serde_json::from_str(&s).unwrap()
}

fn batch(u: &Upload) -> Vec<Value> {
    decode(u)["batch"].as_array().unwrap().clone()
}

fn ids(u: &Upload) -> Vec<String> {
    batch(u)
        .iter()
        .map(|m| m["messageId"].as_str().unwrap().to_string())
        .collect()
}

// --- Batching thresholds ------------------------------------------------------

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

// --- Retry ------------------------------------------------------------------------

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

// --- Consent --------------------------------------------------------------------

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
    assert_eq!(h.store.event_count(), 1);
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
    // Gone from the store before set_consent returned, and synced.
    assert_eq!(h.store.event_count(), 3);
    assert!(h.store.sync_count() > syncs);
    assert_eq!(h.engine.queued(), 3);
    // The in-flight batch fails; its retry no longer carries the revoked events.
    h.finish(&inflight, 503);
    let (retry, _) = h.wait_for_upload();
    let msgs = batch(&retry);
    assert_eq!(msgs.len(), 3);
    assert!(msgs.iter().all(|m| m["context"]["purpose"] == "analytics"));
    assert!(
        msgs.iter()
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
    assert_eq!(e2.queued(), 3);
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

// --- Sessions and identity --------------------------------------------------------------

#[test]
fn session_rotates_after_30_minutes_of_inactivity() {
    let mut h = harness();
    h.track_n(1);
    let s1 = h.engine.session_id().to_string();
    h.clock.advance(Duration::from_secs(29 * 60));
    h.track_n(1);
    assert_eq!(
        h.engine.session_id(),
        s1,
        "activity within 30 min keeps the session"
    );
    h.clock.advance(Duration::from_secs(29 * 60));
    h.track_n(1);
    assert_eq!(
        h.engine.session_id(),
        s1,
        "the timeout counts from the last activity"
    );
    h.clock.advance(Duration::from_secs(30 * 60 + 1));
    h.track_n(1);
    let s2 = h.engine.session_id().to_string();
    assert_ne!(s2, s1);
    h.clock.advance(Duration::from_secs(31 * 60));
    h.engine.on_foreground();
    assert_ne!(
        h.engine.session_id(),
        s2,
        "foreground after the timeout starts a session"
    );
    h.engine.flush().unwrap();
    let sessions: Vec<Value> = batch(&h.upload_now())
        .iter()
        .map(|m| m["context"]["sessionId"].clone())
        .collect();
    assert_eq!(sessions, vec![json!(s1), json!(s1), json!(s1), json!(s2)]);
}

#[test]
fn session_survives_a_restart_within_the_timeout() {
    let mut h = harness();
    h.track_n(1);
    let s1 = h.engine.session_id().to_string();
    h.engine.flush().unwrap(); // sync writes the session
    drop(h.engine);
    h.clock.advance(Duration::from_secs(60));
    let mut e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    e2.track("x", Value::Null).unwrap();
    assert_eq!(e2.session_id(), s1);
}

#[test]
fn identify_hashes_normalised_identifiers() {
    let mut h = harness();
    let hasher = crate::identity::Hasher::new(Some(b"test-hash-key"));
    h.engine
        .identify(
            " user-42 ",
            json!({"email":"  Alice@Example.COM ","phone":"+33 6 12-34-56-78","plan":"pro"}),
        )
        .unwrap();
    h.track_n(1);
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    let want_uid = hasher.user_id("user-42");
    assert_eq!(want_uid.len(), 64);
    assert_eq!(msgs[0]["type"], "identify");
    assert_eq!(msgs[0]["userId"], want_uid);
    assert_eq!(
        msgs[0]["traits"]["email"],
        hasher.email("alice@example.com")
    );
    assert_eq!(msgs[0]["traits"]["phone"], hasher.phone("+33612345678"));
    assert_eq!(msgs[0]["traits"]["plan"], "pro");
    assert_eq!(
        msgs[1]["userId"], want_uid,
        "later events carry the hashed user"
    );
    let text = serde_json::to_string(&msgs).unwrap();
    for raw in [
        "user-42",
        "alice@example.com",
        "Alice@Example.COM",
        "612345678",
    ] {
        assert!(!text.contains(raw), "raw identifier {raw} leaked");
    }
}

#[test]
fn contact_traits_are_hashed_in_any_case_by_identify_and_group() {
    let mut h = harness();
    let hasher = crate::identity::Hasher::new(Some(b"test-hash-key"));
    h.engine
        .identify(
            "u1",
            json!({"Email":" A@B.com ","PHONE":33612345678u64,"phone_2":"x"}),
        )
        .unwrap();
    h.engine
        .group(
            "acme",
            json!({"EMAIL":"Billing@Acme.io","phone":"+1 555","email_ok":null}),
        )
        .unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    assert_eq!(msgs[0]["traits"]["Email"], hasher.email("a@b.com"));
    assert_eq!(msgs[0]["traits"]["PHONE"], hasher.phone("33612345678"));
    assert_eq!(msgs[0]["traits"]["phone_2"], "x", "only the exact names");
    assert_eq!(msgs[1]["traits"]["EMAIL"], hasher.email("billing@acme.io"));
    assert_eq!(msgs[1]["traits"]["phone"], hasher.phone("+1555"));
}

#[test]
fn contact_traits_of_other_types_are_refused_and_nothing_changes() {
    let mut h = harness();
    h.engine.identify("u1", Value::Null).unwrap();
    let user = h.engine.user_id().map(str::to_string);
    let queued = h.engine.queued();
    for traits in [
        json!({"email": ["a@b.com"]}),
        json!({"Phone": {"n": "+33612345678"}}),
        json!({"email": true}),
        json!({"phone": 3.5}),
        json!({"phone": -1}),
    ] {
        let err = h.engine.identify("u2", traits.clone()).unwrap_err();
        assert!(matches!(err, Error::NotAnObject), "{traits}: {err:?}");
        let err = h.engine.group("g", traits.clone()).unwrap_err();
        assert!(matches!(err, Error::NotAnObject), "{traits}: {err:?}");
    }
    assert_eq!(h.engine.user_id().map(str::to_string), user);
    assert_eq!(h.engine.queued(), queued);
}

#[test]
fn identify_and_alias_leave_the_user_unchanged_on_error() {
    let mut cfg = test_config();
    cfg.hash_identities = false; // so a long id makes a long message
    cfg.hash_key.clear();
    let mut h = harness_with(cfg);
    h.engine.set_consent(Consent::all()).unwrap();
    h.engine.identify("u1", Value::Null).unwrap();
    let big = json!({ "blob": "z".repeat(33 * 1024) });
    assert!(matches!(
        h.engine.identify("u2", big),
        Err(Error::EventTooLarge { .. })
    ));
    assert_eq!(h.engine.user_id(), Some("u1"));
    assert!(matches!(
        h.engine.alias(&"u".repeat(33 * 1024)),
        Err(Error::EventTooLarge { .. })
    ));
    assert_eq!(h.engine.user_id(), Some("u1"));
    assert_eq!(h.store.get("user_id").unwrap().as_deref(), Some(&b"u1"[..]));
    // Not consented: the user is still remembered.
    h.engine.set_consent(Consent::none()).unwrap();
    h.engine.identify("u3", Value::Null).unwrap();
    assert_eq!(h.engine.user_id(), Some("u3"));
}

#[test]
fn pages_and_screens_may_be_nameless() {
    let mut h = harness();
    assert_eq!(
        h.engine.page("", json!({"path":"/"})).unwrap(),
        Tracked::Queued
    );
    assert_eq!(h.engine.screen(" ", Value::Null).unwrap(), Tracked::Queued);
    h.engine.track_event(Event::page_view("")).unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    assert_eq!(msgs.len(), 3);
    assert!(
        msgs.iter().all(|m| m.get("name").is_none()),
        "sent without name"
    );
    assert_eq!(msgs[0]["properties"]["path"], "/");
}

#[test]
fn hashing_can_be_turned_off() {
    let mut cfg = test_config();
    cfg.hash_identities = false;
    cfg.hash_key.clear();
    let mut h = harness_with(cfg);
    h.engine.set_consent(Consent::all()).unwrap();
    h.engine
        .identify("user-42", json!({"email":"A@B.com"}))
        .unwrap();
    assert_eq!(h.engine.user_id(), Some("user-42"));
    h.engine.flush().unwrap();
    assert_eq!(batch(&h.upload_now())[0]["traits"]["email"], "A@B.com");
}

#[test]
fn hashing_without_a_key_is_a_config_error() {
    let mut cfg = test_config();
    cfg.hash_key.clear();
    let err = Engine::new(
        cfg,
        Arc::new(MemoryStore::new()),
        Arc::new(ManualClock::new(T0)),
    );
    assert!(matches!(err, Err(Error::Config(_))));
}

#[test]
fn alias_and_group_messages() {
    let mut h = harness();
    let anon = h.engine.anonymous_id().to_string();
    h.engine.alias("new-user").unwrap();
    h.engine.group("acme", json!({"plan":"team"})).unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    let hasher = crate::identity::Hasher::new(Some(b"test-hash-key"));
    assert_eq!(msgs[0]["type"], "alias");
    assert_eq!(msgs[0]["previousId"], anon);
    assert_eq!(msgs[0]["userId"], hasher.user_id("new-user"));
    assert_eq!(msgs[1]["type"], "group");
    assert_eq!(msgs[1]["groupId"], "acme");
    assert_eq!(msgs[1]["traits"]["plan"], "team");
}

#[test]
fn reset_makes_a_new_identity_and_session() {
    let mut h = harness();
    h.engine.identify("u1", Value::Null).unwrap();
    let anon = h.engine.anonymous_id().to_string();
    let session = h.engine.session_id().to_string();
    h.engine.reset().unwrap();
    assert_ne!(h.engine.anonymous_id(), anon);
    assert_eq!(h.engine.user_id(), None);
    assert_ne!(h.engine.session_id(), session);
    let anon2 = h.engine.anonymous_id().to_string();
    // Identity persists across restarts (and the cleared user stays cleared).
    drop(h.engine);
    let e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    assert_eq!(e2.anonymous_id(), anon2);
    assert_eq!(e2.user_id(), None);
    uuid::Uuid::parse_str(&anon2).unwrap();
}

// --- Queue bounds -------------------------------------------------------------------

#[test]
fn queue_count_bound_drops_oldest_and_counts() {
    let mut cfg = test_config();
    cfg.max_queue_events = 5;
    cfg.flush_at = 100;
    let mut h = harness_with(cfg);
    h.engine.set_consent(Consent::all()).unwrap();
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
    h.engine.set_consent(Consent::all()).unwrap();
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
    h.engine.set_consent(Consent::all()).unwrap();
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

// --- Calls refused -------------------------------------------------------------------

#[test]
fn oversized_or_nameless_events_are_refused_at_the_call() {
    let mut h = harness();
    let err = h
        .engine
        .track("big", json!({ "blob": "z".repeat(33 * 1024) }))
        .unwrap_err();
    assert!(
        matches!(err, Error::EventTooLarge { max: 32768, .. }),
        "{err:?}"
    );
    assert!(matches!(
        h.engine.track("", Value::Null),
        Err(Error::EmptyName)
    ));
    assert!(matches!(
        h.engine.track("  ", Value::Null),
        Err(Error::EmptyName)
    ));
    assert!(matches!(
        h.engine.identify("", Value::Null),
        Err(Error::EmptyName)
    ));
    assert!(matches!(
        h.engine.track("x", json!("str")),
        Err(Error::NotAnObject)
    ));
    assert_eq!(h.store.event_count(), 0);
    assert_eq!(h.engine.queued(), 0);
}

// --- Durability and restart ----------------------------------------------------------------

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
    assert_eq!(e.oldest_pending_seq(), Some(0));
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

// --- Wire format ------------------------------------------------------------------------------

#[test]
fn wire_format_is_segment_batch_with_cairn_context() {
    let mut cfg = test_config();
    cfg.write_key_in_body = true;
    cfg.context.os = Some(Os {
        name: Some("Linux".into()),
        version: Some("6.1".into()),
    });
    cfg.context.locale = Some("en-GB".into());
    cfg.context.timezone = Some("Europe/London".into());
    let mut h = harness_with(cfg);
    h.engine
        .set_consent(Consent::only(&[
            Purpose::Analytics,
            Purpose::Personalization,
        ]))
        .unwrap();
    h.engine
        .track_event(Event::add_to_cart("sku-1", 2))
        .unwrap();
    h.engine.page("Home", json!({"path":"/"})).unwrap();
    h.engine.screen("Cart", Value::Null).unwrap();
    h.engine
        .track_event(Event::hide_item("sku-9").purpose(Purpose::Personalization))
        .unwrap();
    h.engine.flush().unwrap();
    let u = h.upload_now();

    assert_eq!(u.url, "http://collector.test/v1/batch");
    let header = |k: &str| {
        u.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("Content-Type").as_deref(), Some("application/json"));
    assert_eq!(header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        header("Authorization").as_deref(),
        Some("Basic d2tfdGVzdDo=")
    ); // "wk_test:"

    let body = decode(&u);
    assert_eq!(body["writeKey"], "wk_test");
    assert_eq!(body["sentAt"], "2025-11-01T12:26:40.000Z");
    let msgs = body["batch"].as_array().unwrap();
    let m = &msgs[0];
    assert_eq!(m["type"], "track");
    assert_eq!(m["event"], "add_to_cart");
    assert_eq!(m["properties"], json!({"product_id":"sku-1","quantity":2}));
    let id = uuid::Uuid::parse_str(m["messageId"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(m["anonymousId"], h.engine.anonymous_id());
    assert!(m.get("userId").is_none());
    chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap()).unwrap();
    let ctx = &m["context"];
    assert_eq!(ctx["library"]["name"], "cairn-rust");
    assert_eq!(ctx["os"]["name"], "Linux");
    assert_eq!(ctx["locale"], "en-GB");
    assert_eq!(ctx["timezone"], "Europe/London");
    assert_eq!(ctx["sessionId"], h.engine.session_id());
    assert_eq!(
        ctx["consent"],
        json!({"analytics":true,"personalization":true,"marketing":false})
    );
    assert_eq!(ctx["purpose"], "analytics");
    assert_eq!(
        ctx["dropped"],
        json!({"overflow":0,"expired":0,"rejected":0,"too_large":0})
    );
    assert_eq!(msgs[1]["type"], "page");
    assert_eq!(msgs[1]["name"], "Home");
    assert_eq!(msgs[2]["type"], "screen");
    assert_eq!(msgs[3]["context"]["purpose"], "personalization");
    // messageIds are UUIDv7: they sort in tracking order.
    let all: Vec<&str> = msgs
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
}

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
    h.engine.set_consent(Consent::all()).unwrap();
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
