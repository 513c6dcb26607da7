//! Engine rules, each checked on a `ManualClock` with a `MemoryStore`: no sleeps,
//! no network. Every test drives the same `next_upload` / `upload_finished` loop
//! a real driver runs.
//!
//! This module holds the shared harness and decoders; the tests live in one
//! file per rule family.

mod batching;
mod calls;
mod clock;
mod consent;
mod durability;
mod identity;
mod queue;
mod retry;
mod session;
mod text_calls;
mod wire;

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

/// An engine with every purpose granted, and the consent record that granting
/// queued already delivered (so tests start from an empty queue).
fn harness() -> Harness {
    let mut h = harness_with(test_config());
    h.engine.set_consent(Consent::all()).unwrap();
    h.deliver_consent_record();
    h
}

impl Harness {
    /// Uploads the queued consent record (the only queued event) with a 200.
    fn deliver_consent_record(&mut self) {
        deliver_consent_record(&mut self.engine);
    }

    /// Sets consent and delivers the consent record it queued.
    fn grant(&mut self, consent: Consent) {
        self.engine.set_consent(consent).unwrap();
        self.deliver_consent_record();
    }

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

/// Uploads the queued consent record (the only queued event) with a 200, and
/// syncs, so a test starts from an empty, clean queue.
fn deliver_consent_record(e: &mut Engine) {
    e.flush().unwrap();
    let Next::Upload(u) = e.next_upload().unwrap() else {
        panic!("the consent record is due")
    };
    assert_eq!(batch(&u)[0]["event"], "consent_changed");
    assert_eq!(u.events, 1);
    e.upload_finished(u.id, Outcome::status(200)).unwrap();
    e.sync().unwrap();
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
