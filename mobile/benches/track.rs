//! `Tracker::track` called from Rust (no FFI): the caller's share (argument check and
//! hand-off to the dispatcher thread, which writes to the real SledStore). Every 500
//! calls the bench waits, untimed, for the dispatcher to catch up (a read), so the
//! bounded call queue never fills. The floor under `examples/kotlin/run.sh bench`.
//! `cargo bench -p cairn-mobile --bench track` (prints median / p90 / p99 in ns).

use cairn_mobile::{
    ConsentState, HttpUploader, SeedEvent, Tracker, TrackerConfig, UploadRequest, UploadResult,
};
use std::sync::Arc;
use std::time::Instant;

/// Never called: flushAt is out of reach.
struct NoUploads;

impl HttpUploader for NoUploads {
    fn upload(&self, _: UploadRequest) -> UploadResult {
        UploadResult::Transport {
            message: "the bench uploads nothing".into(),
        }
    }
}

fn report(what: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    println!(
        "{what} from Rust: n={} median={} ns p90={} ns p99={} ns",
        ns.len(),
        p(0.5),
        p(0.9),
        p(0.99)
    );
}

fn main() {
    let n: usize = std::env::var("CAIRN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("cairn-mobile-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let t = Tracker::new(
        TrackerConfig {
            flush_at: 1_000_000,
            flush_interval_ms: 3_600_000,
            max_queue_events: 1_000_000,
            max_queue_bytes: 1 << 30,
            ..TrackerConfig::new(
                "bench",
                "http://127.0.0.1:9",
                &dir.to_string_lossy(),
                "bench-hash-key",
            )
        },
        Arc::new(NoUploads),
    )
    .expect("tracker");
    t.set_consent(ConsentState {
        analytics: true,
        personalization: false,
        marketing: false,
    })
    .unwrap();
    let props = r#"{"product_id":"sku-123","price":9.5,"quantity":1}"#;
    for i in 0..2_000 {
        if i % 500 == 0 {
            t.queued().unwrap();
        }
        t.track("warmup".into(), Some(props.into()), None).unwrap();
    }
    let mut custom = Vec::with_capacity(n);
    for i in 0..n {
        if i % 500 == 0 {
            t.queued().unwrap();
        }
        let s = Instant::now();
        t.track("bench_event".into(), Some(props.into()), None)
            .unwrap();
        custom.push(s.elapsed().as_nanos() as u64);
    }
    let mut seed = Vec::with_capacity(n);
    for i in 0..n {
        if i % 500 == 0 {
            t.queued().unwrap();
        }
        let s = Instant::now();
        t.track_event(
            SeedEvent::AddToCart {
                product_id: "sku-123".into(),
                quantity: 1,
                name: None,
                price: Some(89.0),
                currency: None,
                category: None,
                brand: None,
                variant: None,
                position: None,
                list: None,
            },
            None,
            None,
        )
        .unwrap();
        seed.push(s.elapsed().as_nanos() as u64);
    }
    report("track(name, json)", custom);
    report("trackEvent(AddToCart)", seed);
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}
