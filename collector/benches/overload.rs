//! Overload benchmark (not a test): the real release binary, first driven closed-loop to
//! measure its capacity, then open-loop at twice that rate. Reports the share of 503s,
//! their time to first byte, the p99 of successful requests and the collector's RSS
//! before and after; then SIGKILLs the collector in the middle of the overload, restarts
//! it and checks that every acknowledged messageId is in the feed exactly once.
//!
//! `cargo bench -p cairn-collector --bench overload`; CAIRN_OVERLOAD_SECS sets the
//! overload phase's length (default 60), CAIRN_BENCH_SECS the capacity phase's (10).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
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

fn body(seq: u64) -> String {
    let events: Vec<String> = (0..BATCH)
        .map(|i| format!(
            r#"{{"type":"track","event":"add_to_cart","messageId":"o-{seq}-{i}","anonymousId":"anon-{}","properties":{{"productId":"sku_{i}","price":49.5,"currency":"EUR"}},"context":{{"locale":"en-GB","consent":{{"analytics":true}}}}}}"#,
            (seq + i as u64) % 5000
        ))
        .collect();
    format!(r#"{{"batch":[{}]}}"#, events.join(","))
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[derive(Default)]
struct Results {
    ok: Vec<Duration>,
    shed: Vec<Duration>,
    other: u64,
    acknowledged: Vec<u64>,
}

/// Open loop: one request every `1/rate` s whatever the answers, for `secs`.
async fn open_loop(url: &str, rate: f64, secs: u64, first_seq: u64, results: Arc<Mutex<Results>>) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut n = 0u64;
    let mut tasks = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let seq = first_seq + n;
        n += 1;
        let (client, url, results) = (client.clone(), url.to_owned(), results.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let reply = client
                .post(format!("{url}/v1/batch"))
                .basic_auth(WRITE_KEY, Some(""))
                .header("content-type", "application/json")
                .body(body(seq))
                .send()
                .await;
            let ttfb = sent.elapsed();
            let mut r = results.lock().unwrap();
            match reply.map(|r| r.status().as_u16()) {
                Ok(200) => {
                    r.ok.push(ttfb);
                    r.acknowledged.push(seq);
                }
                Ok(503) => r.shed.push(ttfb),
                _ => r.other += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The collector's `cairn_events_accepted_total`.
async fn accepted_events(url: &str) -> f64 {
    reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
        .lines()
        .find_map(|l| l.strip_prefix("cairn_events_accepted_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// `o-{seq}-{i}` as one number.
fn key_number(seq: u64, i: u64) -> u64 {
    seq * BATCH as u64 + i
}

/// The feed's event keys as numbers, and how many came twice.
async fn feed_keys(url: &str) -> (HashSet<u64>, usize) {
    #[derive(serde::Deserialize)]
    struct Record {
        cursor: u64,
        key: Option<String>,
    }
    let client = reqwest::Client::new();
    let (mut keys, mut duplicates, mut cursor) = (HashSet::new(), 0, 0);
    loop {
        let text = client
            .get(format!("{url}/v1/feed?after={cursor}&limit=10000"))
            .bearer_auth(cairn_testkit::READ_KEY)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("read feed")
            .text()
            .await
            .expect("feed body");
        let mut last = None;
        for line in text.lines() {
            let record: Record = serde_json::from_str(line).expect("feed line");
            last = Some(record.cursor);
            let parsed = record.key.as_deref().and_then(|k| {
                let (seq, i) = k.strip_prefix("o-")?.split_once('-')?;
                Some(key_number(seq.parse().ok()?, i.parse().ok()?))
            });
            if let Some(key) = parsed {
                if !keys.insert(key) {
                    duplicates += 1;
                }
            }
        }
        match last {
            Some(c) => cursor = c,
            None => return (keys, duplicates),
        }
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).saturating_sub(1);
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    cairn_testkit::install_tls_provider();
    let bin = cairn_testkit::collector_bin();
    let mut c = CollectorProcess::start(&bin, temp_dir("bench-overload"), &[]);
    let capacity_secs = env_or("CAIRN_BENCH_SECS", 10);
    let overload_secs = env_or("CAIRN_OVERLOAD_SECS", 60);

    // Capacity: 32 clients back to back.
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for k in 0..32u64 {
        let (url, done) = (c.url.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seq = 1_000_000_000 + k * 1_000_000;
            while started.elapsed() < Duration::from_secs(capacity_secs) {
                seq += 1;
                let ok = client
                    .post(format!("{url}/v1/batch"))
                    .basic_auth(WRITE_KEY, Some(""))
                    .body(body(seq))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ok {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in clients {
        let _ = t.await;
    }
    let capacity =
        done.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let rate = 2.0 * capacity;
    let rss_before = rss_mib(c.pid());
    let stored_before = accepted_events(&c.url).await;
    println!("capacity {capacity:.0} batches/s ({:.0} events/s); overload at {rate:.0} batches/s for {overload_secs} s", capacity * BATCH as f64);

    let results = Arc::new(Mutex::new(Results::default()));
    open_loop(&c.url, rate, overload_secs, 0, results.clone()).await;
    let rss_after = rss_mib(c.pid());
    // The dedup window keeps every stored event's key (about 40-80 bytes each): RSS
    // grows with what was stored, which is told apart from what the load holds.
    let stored = accepted_events(&c.url).await - stored_before;
    println!(
        "stored {stored:.0} events during the overload: {:.0} bytes of RSS growth per stored event",
        (rss_after - rss_before) * 1024.0 * 1024.0 / stored.max(1.0)
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    {
        let mut r = results.lock().unwrap();
        let (other, shed_share) = (r.other, r.shed.len() as f64);
        let total = r.ok.len() + r.shed.len() + other as usize;
        let (shed50, shed99) = (pct(&mut r.shed, 0.5), pct(&mut r.shed, 0.99));
        let (ok50, ok99) = (pct(&mut r.ok, 0.5), pct(&mut r.ok, 0.99));
        println!(
            "overload: {total} requests, {:.1}% 503 (ttfb p50 {shed50:.2} ms, p99 {shed99:.2} ms), {other} other failures; 200s p50 {ok50:.2} ms, p99 {ok99:.2} ms; RSS {rss_before:.0} -> {rss_after:.0} MiB",
            100.0 * shed_share / total.max(1) as f64,
        );
    }

    // SIGKILL in the middle of an overload, then every acknowledged batch exactly once.
    let killed = Arc::new(Mutex::new(Results::default()));
    let load = tokio::spawn({
        let (url, killed) = (c.url.clone(), killed.clone());
        async move { open_loop(&url, rate, 10, 10_000_000, killed).await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.kill9();
    let _ = load.await;
    c.restart();
    // Millions of records: only their keys are kept, as numbers, page by page.
    let (keys, duplicates) = feed_keys(&c.url).await;
    drop(c);
    assert_eq!(duplicates, 0, "every event once");
    let mut acknowledged = results.lock().unwrap().acknowledged.clone();
    acknowledged.extend(killed.lock().unwrap().acknowledged.iter());
    let missing = acknowledged
        .iter()
        .flat_map(|seq| (0..BATCH as u64).map(move |i| key_number(*seq, i)))
        .filter(|k| !keys.contains(k))
        .count();
    println!(
        "SIGKILL during overload: {} acknowledged batches, {missing} acknowledged events missing, {} records, no duplicates",
        acknowledged.len(),
        keys.len()
    );
    assert_eq!(missing, 0);
}
