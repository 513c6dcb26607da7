//! End-to-end latency: an event tracked through the native SDK, then `flush()`, until it
//! is readable in the collector's feed (long-polled, as the recommender reads it).
//! Budget from DESIGN.md: within 1 s of a flush. Release build of both sides:
//! `cargo bench -p cairn-e2e --bench flush_to_feed` (CAIRN_BENCH_ROUNDS, default 100).

use std::time::{Duration, Instant};

use cairn_e2e::{client, config, runtime, temp_dir, CollectorProcess, READ_KEY};
use serde_json::{json, Value};

fn main() {
    let rounds: usize = std::env::var("CAIRN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = temp_dir("bench-flush-to-feed");
    let collector = CollectorProcess::start(cairn_e2e::collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let sdk = client(&rt, config(&collector.url), &dir.join("sdk"));
    let http = collector.client();
    let mut cursor = 0u64;
    let mut latencies = Vec::with_capacity(rounds);
    for n in 0..rounds {
        sdk.track("add_to_cart", json!({"productId": "sku_1", "n": n}))
            .expect("track");
        let started = Instant::now();
        rt.block_on(sdk.flush()).expect("flush");
        'wait: loop {
            let text = http
                .get(format!("{}/v1/feed?after={cursor}&wait=5", collector.url))
                .bearer_auth(READ_KEY)
                .send()
                .and_then(|r| r.text())
                .expect("feed");
            for line in text.lines() {
                let record: Value = serde_json::from_str(line).expect("feed line");
                cursor = record["cursor"].as_u64().expect("cursor");
                if record["value"]["properties"]["n"] == n {
                    break 'wait;
                }
            }
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "flush -> in feed, {rounds} rounds: median {:.2} ms, p99 {:.2} ms, max {:.2} ms (budget 1000 ms)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    );
    rt.block_on(sdk.shutdown(Duration::from_secs(5)))
        .expect("shutdown");
    drop(collector);
    let _ = std::fs::remove_dir_all(&dir);
}
