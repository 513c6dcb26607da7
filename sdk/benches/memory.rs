//! Benchmark: resident memory added by the SDK with 10,000 queued events.
//! Budget: < 10 MB on native/mobile (SledStore). Each scenario runs in a fresh
//! child process so one cannot hide or inflate the other.
//! Run: `cargo bench -p cairn --features sled --bench memory`.
//!
//! RSS is read from /proc/self/statm (resident pages x 4 KiB pages).

use cairn::{
    App, Config, Consent, Device, Engine, Event, MemoryStore, Os, Screen, SledConfig, SledStore,
    StaticContext, Store, SystemClock,
};
use std::sync::Arc;

const EVENTS: usize = 10_000;

fn main() {
    match std::env::var("CAIRN_MEM_SCENARIO").ok().as_deref() {
        Some(s) => scenario(s),
        None => {
            for s in ["sled", "memory"] {
                let exe = std::env::current_exe().expect("current exe");
                let out = std::process::Command::new(exe)
                    .env("CAIRN_MEM_SCENARIO", s)
                    .output()
                    .expect("run scenario");
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
                assert!(out.status.success(), "scenario {s} failed");
            }
        }
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn scenario(name: &str) {
    let dir = std::env::temp_dir().join(format!("cairn-bench-mem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Warm the allocator and the runtime's lazy statics before the baseline.
    let warm = serde_json::to_vec(&serde_json::json!({"warm": [1, 2, 3]})).unwrap();
    assert!(!warm.is_empty());
    let before = rss_bytes();

    let store: Arc<dyn Store> = match name {
        "sled" => Arc::new(SledStore::open_with(SledConfig::new(&dir)).expect("open sled")),
        _ => Arc::new(MemoryStore::new()),
    };
    let mut cfg = Config::new("wk_bench", "http://127.0.0.1:1");
    cfg.hash_key = "bench".into();
    cfg.context = mobile_context();
    let mut engine = Engine::new(cfg, store, Arc::new(SystemClock)).expect("engine");
    engine.set_consent(Consent::all()).expect("consent");
    for i in 0..EVENTS {
        let e = Event::add_to_cart(&format!("sku-{i:06}"), 1)
            .with("price", 89.5)
            .with("currency", "EUR")
            .with("list", "search results");
        engine.track_event(e).unwrap();
    }
    engine.sync().unwrap();
    assert_eq!(engine.queued(), EVENTS);
    let after = rss_bytes();
    let added = after.saturating_sub(before) as f64 / (1024.0 * 1024.0);
    println!(
        "resident memory added with {EVENTS} queued events ({name} store): {added:.2} MiB (budget: < 10 MB on sled)",
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a phone app sends with every event.
fn mobile_context() -> StaticContext {
    StaticContext {
        app: Some(App {
            name: Some("New Smell".into()),
            version: Some("3.12.0".into()),
            build: Some("31200".into()),
            namespace: Some("com.newsmell.app".into()),
        }),
        device: Some(Device {
            kind: Some("mobile".into()),
            manufacturer: Some("Google".into()),
            model: Some("Pixel 8".into()),
        }),
        os: Some(Os {
            name: Some("Android".into()),
            version: Some("15".into()),
        }),
        screen: Some(Screen {
            width: Some(1080),
            height: Some(2400),
            density: Some(2.625),
        }),
        locale: Some("fr-FR".into()),
        timezone: Some("Europe/Paris".into()),
        ..StaticContext::default()
    }
}
