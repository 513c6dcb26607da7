//! Benchmark: the cost of `Engine::track()` on a `SledStore` (serialise the
//! Segment message and hand it to the persistent queue). Budget: median < 5 µs.
//! Run: `cargo bench -p cairn --features sled --bench track`.
//!
//! Calls are timed one by one. Between rounds the queue is drained outside the
//! timed region by the same loop a driver runs (uploads answered 200), which is
//! also when the 200 ms fsync happens, so the queue stays under its bound.

use cairn::{Config, Consent, Engine, Event, Next, Outcome, SledStore, SystemClock};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 50;
const PER_ROUND: usize = 2_000;

fn main() {
    let dir = std::env::temp_dir().join(format!("cairn-bench-track-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(SledStore::open(&dir).expect("open sled"));
    let mut cfg = Config::new("wk_bench", "http://127.0.0.1:1");
    cfg.hash_key = "bench".into();
    let mut engine = Engine::new(cfg, store, Arc::new(SystemClock)).expect("engine");
    engine.set_consent(Consent::all()).expect("consent");

    let event = || {
        Event::add_to_cart("sku-12345", 1)
            .with("price", 89.5)
            .with("currency", "EUR")
            .with("list", "search results")
    };
    // Warm up sled and the allocator.
    for _ in 0..PER_ROUND {
        engine.track_event(event()).unwrap();
    }
    drain(&mut engine);

    let mut samples = Vec::with_capacity(ROUNDS * PER_ROUND);
    for _ in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            let e = event();
            let t = Instant::now();
            engine.track_event(e).unwrap();
            samples.push(t.elapsed());
        }
        drain(&mut engine);
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "track() on SledStore: n={} median={:.2} µs p90={:.2} µs p99={:.2} µs mean={:.2} µs (budget: median < 5 µs)",
        samples.len(),
        us(pct(0.5)),
        us(pct(0.9)),
        us(pct(0.99)),
        us(mean),
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Uploads everything as a driver would, every answer a 200, then fsyncs.
fn drain(engine: &mut Engine) {
    engine.flush().unwrap();
    while let Next::Upload(u) = engine.next_upload().unwrap() {
        engine.upload_finished(u.id, Outcome::status(200)).unwrap();
    }
    engine.sync().unwrap();
    assert_eq!(engine.queued(), 0);
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}
