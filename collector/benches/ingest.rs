//! Ingest benchmark: a load generator against the real collector binary (release build,
//! data dir on disk, every 200 a durable ack), posting 100-event batches.
//!
//! Phase 1 saturates the server with a fixed number of concurrent clients and reports
//! events/s. Phase 2 runs open-loop at half that rate and reports ack latency, measured
//! from each request's scheduled start so a slow server cannot hide its queueing.
//!
//! `cargo bench -p cairn-collector --bench ingest`; CAIRN_BENCH_SECS sets each phase's
//! length (default 10), CAIRN_BENCH_CLIENTS the phase-1 concurrency (default 32).

use std::{
    fmt::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use cairn_testkit::{temp_dir, CollectorProcess, WRITE_KEY};

const BATCH: usize = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A batch of `BATCH` realistic track events with messageIds unique to `seq`.
fn batch_body(seq: u64) -> String {
    let mut s = String::with_capacity(BATCH * 420);
    s.push_str(r#"{"sentAt":"2026-01-01T00:00:01Z","batch":["#);
    for i in 0..BATCH {
        if i > 0 {
            s.push(',');
        }
        let user = (seq * 7 + i as u64) % 5000;
        write!(
            s,
            r#"{{"type":"track","event":"add_to_cart","messageId":"bench-{seq}-{i}","anonymousId":"anon-{user}","userId":"user-{user}@example.com","timestamp":"2026-01-01T00:00:00Z","properties":{{"productId":"sku_{i}","price":49.5,"currency":"EUR","quantity":1,"category":"perfume"}},"context":{{"library":{{"name":"cairn-bench","version":"0.1.0"}},"sessionId":"s-{seq}","locale":"en-GB","timezone":"Europe/London","consent":{{"analytics":true,"personalization":true,"marketing":false}}}}}}"#
        )
        .unwrap();
    }
    s.push_str("]}");
    s
}

struct Sample {
    /// Ack latency and start (seconds into the phase) of each acknowledged batch.
    latencies: Vec<(Duration, f64)>,
    events: u64,
    failures: u64,
    elapsed: Duration,
}

impl Sample {
    fn report(&mut self, label: &str) -> f64 {
        self.latencies.sort_by_key(|l| l.0);
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
            self.latencies.get(i).map(|l| l.0).unwrap_or_default()
        };
        let slow: Vec<&(Duration, f64)> = self
            .latencies
            .iter()
            .filter(|l| l.0 > Duration::from_millis(50))
            .collect();
        let mut slow_seconds: Vec<u64> = slow.iter().map(|l| l.1 as u64).collect();
        slow_seconds.sort_unstable();
        slow_seconds.dedup();
        let rate = self.events as f64 / self.elapsed.as_secs_f64();
        println!(
            "{label}: {rate:.0} events/s ({} batches, {} failed) | ack latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latencies.len(),
            self.failures,
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            pct(1.0).as_secs_f64() * 1e3,
        );
        println!(
            "  {} batches over 50 ms, started in seconds {:?} of the phase",
            slow.len(),
            slow_seconds
        );
        rate
    }
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> bool {
    match client
        .post(url)
        .basic_auth(WRITE_KEY, Some(""))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
}

/// Closed loop: `clients` workers post back to back for `secs`.
async fn saturate(url: Arc<str>, clients: u64, secs: u64, seq: Arc<AtomicU64>) -> Sample {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, seq) = (client.clone(), url.clone(), seq.clone());
        workers.spawn(async move {
            let mut out = Vec::new();
            let mut failures = 0;
            while Instant::now() < deadline {
                let body = batch_body(seq.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                if post(&client, &url, body).await {
                    out.push((sent.elapsed(), (sent - start).as_secs_f64()));
                } else {
                    failures += 1;
                }
            }
            (out, failures)
        });
    }
    let mut sample = Sample {
        latencies: Vec::new(),
        events: 0,
        failures: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(result) = workers.join_next().await {
        let (latencies, failures) = result.expect("worker");
        sample.events += latencies.len() as u64 * BATCH as u64;
        sample.latencies.extend(latencies);
        sample.failures += failures;
    }
    sample.elapsed = start.elapsed();
    sample
}

/// Open loop: one batch every 1/rate seconds for `secs`, whatever the server does.
async fn paced(url: Arc<str>, events_per_sec: f64, secs: u64, seq: Arc<AtomicU64>) -> Sample {
    let client = reqwest::Client::new();
    let interval = Duration::from_secs_f64(BATCH as f64 / events_per_sec);
    let total = (secs as f64 / interval.as_secs_f64()) as u64;
    let start = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let body = batch_body(seq.fetch_add(1, Ordering::Relaxed));
        let (client, url) = (client.clone(), url.clone());
        let at = (scheduled - start).as_secs_f64();
        requests.spawn(async move {
            let ok = post(&client, &url, body).await;
            (ok, (scheduled.elapsed(), at))
        });
    }
    let mut sample = Sample {
        latencies: Vec::new(),
        events: 0,
        failures: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(result) = requests.join_next().await {
        let (ok, latency) = result.expect("request");
        if ok {
            sample.events += BATCH as u64;
            sample.latencies.push(latency);
        } else {
            sample.failures += 1;
        }
    }
    sample.elapsed = start.elapsed();
    sample
}

fn main() {
    cairn_testkit::install_tls_provider();
    let secs = env_or("CAIRN_BENCH_SECS", 10);
    let clients = env_or("CAIRN_BENCH_CLIENTS", 32);
    let dir = temp_dir("bench-ingest");
    let server = CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), &dir, &[]);
    let url: Arc<str> = format!("{}/v1/batch", server.url).into();
    println!(
        "collector pid {} on {}, data dir {}; {} cores; batches of {BATCH} events, {} bytes each",
        server.pid(),
        server.url,
        dir.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        batch_body(0).len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let seq = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        saturate(url.clone(), clients, 2, seq.clone()).await; // warm-up
        let max = saturate(url.clone(), clients, secs, seq.clone())
            .await
            .report(&format!("saturated, {clients} clients"));
        paced(url.clone(), max / 2.0, secs, seq.clone())
            .await
            .report(&format!("open loop at half ({:.0} events/s)", max / 2.0));
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
