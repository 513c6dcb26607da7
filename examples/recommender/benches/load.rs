//! Load benchmark (a binary, not a timed test): 100,000 users and 10,000 products;
//! recommendations requested at 1,000 per second while the collector's feed delivers
//! 10,000 events per second. Prints p50 / p95 / p99 latency, the service's resident
//! memory, and events per second applied.
//!
//! Real processes on loopback: the release collector (cairn-testkit) and the release
//! `cairn-recommender`; this process generates both loads and shares the two cores
//! with them. Requests are open-loop: request k is due at k / rate seconds and its
//! latency counts from when it was due, so a stall is not hidden by waiting.
//!
//! Run: `cargo build --release -p cairn-collector && cargo bench -p cairn-recommender --bench load`
//! (`BENCH_SECS`, `BENCH_RPS`, `BENCH_EPS`, `BENCH_PRELOAD` per user change the defaults
//! 30, 1000, 10000, 5).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use support::*;

const USERS: u64 = 100_000;
const ITEMS: u64 = 10_000;
const CATEGORIES: u64 = 100;
const BATCH: usize = 500;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A shopper's event: mostly in their favourite category, skewed to its hits.
fn event(rng: &mut Rng) -> Value {
    let user = rng.below(USERS);
    let category = if rng.below(10) < 7 {
        user % CATEGORIES
    } else {
        rng.below(CATEGORIES)
    };
    // Skewed to each category's first products, every product reachable.
    let r = rng.below(ITEMS / CATEGORIES);
    let item = category * (ITEMS / CATEGORIES) + rng.below(r + 1);
    let name = match rng.below(20) {
        0 => "purchase",
        1..=2 => "add_to_cart",
        3..=5 => "product_clicked",
        _ => "product_viewed",
    };
    let p = json!({"product_id": format!("sku-{item}"), "category": format!("cat-{category}"), "price": 5 + item % 200});
    let properties = if name == "purchase" {
        json!({"order_id": format!("o-{}", rng.next()), "products": [{"product_id": p["product_id"], "price": p["price"], "quantity": 1, "category": p["category"]}], "total": p["price"], "currency": "EUR"})
    } else {
        p
    };
    track(
        Some(&format!("user-{user}")),
        &format!("anon-{user}"),
        name,
        properties,
        rng.below(10) != 0,
    )
}

fn post_batch(client: &reqwest::blocking::Client, url: &str, events: Vec<Value>) {
    let body = json!({ "batch": events });
    loop {
        match client
            .post(format!("{url}/v1/batch"))
            .basic_auth(cairn_testkit::WRITE_KEY, Some(""))
            .json(&body)
            .send()
        {
            Ok(r) if r.status() == 200 => return,
            Ok(r) => eprintln!("collector answered {}", r.status()),
            Err(e) => eprintln!("post failed: {e}"),
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds a process has used (user + system).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let secs = env("BENCH_SECS", 30);
    let rps = env("BENCH_RPS", 1000);
    let eps = env("BENCH_EPS", 10_000);
    let preload = env("BENCH_PRELOAD", 5);
    let dir = cairn_testkit::temp_dir("reco-bench");
    let collector = collector(&dir.join("collector"));
    let reco = Reco::start(
        &dir.join("reco"),
        &collector.url,
        &["--api-key", API_KEY, "--feed-page", "5000"],
    );
    let client = cairn_testkit::http_client().build().unwrap();

    // --- Preload: every user and product exists before the measured phase -----------
    let total = USERS * preload;
    let started = Instant::now();
    let posters: Vec<_> = (0..2)
        .map(|t| {
            let url = collector.url.clone();
            let client = client.clone();
            thread::spawn(move || {
                let mut rng = Rng(t + 1);
                for _ in 0..total / 2 / BATCH as u64 {
                    post_batch(&client, &url, (0..BATCH).map(|_| event(&mut rng)).collect());
                }
            })
        })
        .collect();
    for p in posters {
        p.join().unwrap();
    }
    let posted_in = started.elapsed();
    let events_now = || {
        reco.ok("/api/v1/stats")["totals"]["events"]
            .as_u64()
            .unwrap()
    };
    while events_now() < total {
        thread::sleep(Duration::from_millis(200));
    }
    let caught_up = started.elapsed();
    let stats = reco.ok("/api/v1/stats");
    println!(
        "preload: {total} events ({} users, {} products known) posted in {:.1} s, applied by {:.1} s: {:.0} events/s applied while catching up",
        stats["profiles"], stats["items"], posted_in.as_secs_f64(), caught_up.as_secs_f64(), total as f64 / caught_up.as_secs_f64()
    );

    // --- Service time: one request at a time, nothing else running ---------------------
    let mut rng = Rng(7);
    let mut idle: Vec<f64> = (0..500)
        .map(|_| {
            let q = format!("userId=user-{}&context=homepage&limit=10", rng.below(USERS));
            let t = Instant::now();
            let r = client
                .get(format!("{}/api/recommendations?{q}", reco.url))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let _ = r.bytes();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    idle.sort_by(f64::total_cmp);
    println!(
        "idle: one request at a time: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99)
    );

    // --- Measured phase ---------------------------------------------------------------
    let stats_before = reco.ok("/api/v1/stats");
    let follower_before = stats_before["follower_ms"].clone();
    let snapshots_before = stats_before["snapshots"].clone();
    let load_before = load_average();
    let cpu_before = (
        cpu_secs(reco.pid()),
        cpu_secs(collector.pid()),
        cpu_secs(std::process::id()),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicU64::new(0));
    let feeder = {
        let (url, client, stop, posted) = (
            collector.url.clone(),
            client.clone(),
            stop.clone(),
            posted.clone(),
        );
        thread::spawn(move || {
            let mut rng = Rng(99);
            let per_tick = (eps / 20) as usize;
            let start = Instant::now();
            let mut tick = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(50) * tick;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                post_batch(
                    &client,
                    &url,
                    (0..per_tick).map(|_| event(&mut rng)).collect(),
                );
                posted.fetch_add(per_tick as u64, Ordering::Relaxed);
                tick += 1;
            }
        })
    };
    let applied_before = events_now();
    let workers = 16u64;
    let requests = rps * secs;
    let start = Instant::now() + Duration::from_millis(100);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let url = reco.url.clone();
            let client = client.clone();
            thread::spawn(move || {
                let mut rng = Rng(1000 + w);
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut k = w;
                while k < requests {
                    let due = start + Duration::from_secs_f64(k as f64 / rps as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                    let user = rng.below(USERS);
                    let query = match rng.below(10) {
                        0..=5 => format!("userId=user-{user}&context=homepage&limit=10"),
                        6..=7 => format!(
                            "userId=user-{user}&context=product-page&productId=sku-{}&limit=10",
                            rng.below(ITEMS)
                        ),
                        8 => format!("anonId=anon-{user}&limit=10"),
                        _ => format!("userId=stranger-{user}&limit=10"),
                    };
                    match client
                        .get(format!("{url}/api/recommendations?{query}"))
                        .send()
                    {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes();
                            latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                    k += workers;
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    let applied = events_now() - applied_before;
    let (rss, peak) = rss_mib(reco.pid());
    let cpu = (
        cpu_secs(reco.pid()) - cpu_before.0,
        cpu_secs(collector.pid()) - cpu_before.1,
        cpu_secs(std::process::id()) - cpu_before.2,
    );
    let stats = reco.ok("/api/v1/stats");
    latencies.sort_by(f64::total_cmp);
    println!(
        "load: {} users, {} products; {:.1} s at {rps} requests/s while {eps} events/s are posted",
        stats["profiles"], stats["items"], elapsed
    );
    println!(
        "  requests: {} answered 200, {errors} failed; latency ms p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2} (budget p95 < 50 ms)",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    println!(
        "  events: {} posted ({:.0}/s), {applied} applied ({:.0}/s); lag at the end {} records",
        posted.load(Ordering::Relaxed),
        posted.load(Ordering::Relaxed) as f64 / elapsed,
        applied as f64 / elapsed,
        stats["feed_head"]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(stats["cursor"].as_u64().unwrap_or(0))
    );
    let f = &stats["follower_ms"];
    let d = |k: &str| f[k].as_u64().unwrap_or(0) - follower_before[k].as_u64().unwrap_or(0);
    println!(
        "  follower time (ms): fetch {} parse {} lock wait {} apply {} snapshot {}",
        d("fetch"),
        d("parse"),
        d("lock_wait"),
        d("apply"),
        d("snapshot")
    );
    let rq = &stats["recommendations"];
    let rb = &stats_before["recommendations"];
    let dr = |k: &str| rq[k].as_u64().unwrap_or(0) - rb[k].as_u64().unwrap_or(0);
    println!(
        "  in the service: {} requests spent {} ms waiting for the model's read lock (longest wait {} ms since start) and {} ms holding it",
        dr("count"),
        dr("lock_wait_ms"),
        rq["lock_wait_max_ms"],
        dr("in_model_ms")
    );
    let sn = &stats["snapshots"];
    let ds = |k: &str| sn[k].as_u64().unwrap_or(0) - snapshots_before[k].as_u64().unwrap_or(0);
    println!(
        "  snapshots: {} written ({} shard files, {} abandoned), {} ms CPU; the last took {} ms CPU, {} ms wall",
        ds("written"),
        ds("shards_written"),
        ds("abandoned"),
        ds("cpu_ms"),
        sn["last_cpu_ms"],
        sn["last_wall_ms"]
    );
    println!("  load average (1, 5, 15 min) before {load_before}, at the end {} (other work on the machine inflates every figure)", load_average());
    println!("  recommender resident memory: {rss:.0} MiB now, {peak:.0} MiB peak");
    println!(
        "  CPU used (of 2 cores x {elapsed:.0} s): recommender {:.1} s, collector {:.1} s, load generator {:.1} s",
        cpu.0, cpu.1, cpu.2
    );
}
