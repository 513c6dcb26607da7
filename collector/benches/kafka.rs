//! Kafka sink benchmark: collector -> tansu broker -> rdkafka consumer, on this machine.
//!
//! Phase 1 saturates a collector without the sink (the ingest figure); phase 2 the same
//! load against a collector forwarding to the broker, with a consumer reading the topic
//! meanwhile. Reported: acknowledged events/s of each, events/s through to the consumer
//! (all acknowledged events over the time until the consumer had the last one), and
//! the forward lag (an event's receivedAt to its arrival at the consumer) p50 / p99.
//!
//! `cargo bench -p cairn-collector --features kafka --bench kafka`; CAIRN_BENCH_SECS sets
//! each phase's length (default 10), CAIRN_BENCH_CLIENTS the concurrency (default 8).

#[path = "../tests/kafka_support/mod.rs"]
mod kafka_support;

use std::{
    fmt::Write,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use cairn_testkit::{http_client, temp_dir, CollectorProcess, WRITE_KEY};
use kafka_support::{collector, Broker, Reader};

const BATCH: u64 = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn batch_body(seq: u64) -> String {
    let mut s = String::from(r#"{"batch":["#);
    for i in 0..BATCH {
        if i > 0 {
            s.push(',');
        }
        let user = (seq * 7 + i) % 5000;
        write!(
            s,
            r#"{{"type":"track","event":"add_to_cart","messageId":"kb-{seq}-{i}","anonymousId":"anon-{user}","userId":"user-{user}@example.com","properties":{{"productId":"sku_{i}","price":49.5,"currency":"EUR","quantity":1}},"context":{{"library":{{"name":"cairn-bench","version":"0.1.0"}},"consent":{{"analytics":true}}}}}}"#
        )
        .unwrap();
    }
    s.push_str("]}");
    s
}

/// Saturates `url` with `clients` threads for `secs`; acknowledged events and elapsed.
fn saturate(url: &str, clients: u64, secs: u64, seq: &Arc<AtomicU64>) -> (u64, Duration) {
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, acked, stop, seq) =
                (url.to_owned(), acked.clone(), stop.clone(), seq.clone());
            std::thread::spawn(move || {
                let client = http_client().build().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let body = batch_body(seq.fetch_add(1, Ordering::Relaxed));
                    let ok = client
                        .post(format!("{url}/v1/batch"))
                        .basic_auth(WRITE_KEY, Some(""))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        acked.fetch_add(BATCH, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs)); // the phase's length, not a synchronisation
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    (acked.load(Ordering::Relaxed), started.elapsed())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let secs = env_or("CAIRN_BENCH_SECS", 10);
    let clients = env_or("CAIRN_BENCH_CLIENTS", 8);
    let bin = env!("CARGO_BIN_EXE_cairn-collector");
    let seq = Arc::new(AtomicU64::new(0));

    let plain = CollectorProcess::start(bin, temp_dir("kafka-bench-plain"), &[]);
    let (events, elapsed) = saturate(&plain.url, clients, secs, &seq);
    drop(plain);
    let plain_eps = events as f64 / elapsed.as_secs_f64();
    println!("ingest without the sink: {plain_eps:.0} events/s ({clients} clients, {secs} s)");

    let broker = Broker::start();
    broker.create_topic("bench", 4);
    let c = collector(&temp_dir("kafka-bench"), &broker.address(), "bench", &[]);
    let lags = Arc::new(Mutex::new(Vec::<f64>::new()));
    let consumed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (address, lags, consumed, done) = (
            broker.address(),
            lags.clone(),
            consumed.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let reader = Reader::new(&address, "bench", 4);
            let mut last = Instant::now();
            let mut count = 0;
            while !done.load(Ordering::Acquire) {
                let Some(g) = reader.poll_one(Duration::from_millis(100)) else {
                    continue;
                };
                if let Some(t) = g.value["receivedAt"].as_str() {
                    let received = chrono::DateTime::parse_from_rfc3339(t).unwrap();
                    let lag = chrono::Utc::now().timestamp_millis() - received.timestamp_millis();
                    lags.lock().unwrap().push(lag as f64 / 1000.0);
                }
                count += 1;
                consumed.store(count, Ordering::Release);
                last = Instant::now();
            }
            last
        })
    };
    let started = Instant::now();
    let (events, elapsed) = saturate(&c.url, clients, secs, &seq);
    let sink_eps = events as f64 / elapsed.as_secs_f64();
    let all_in = kafka_support::poll_until(Duration::from_secs(600), || {
        consumed.load(Ordering::Acquire) >= events
    });
    done.store(true, Ordering::Release);
    let last = consumer.join().unwrap();
    assert!(
        all_in,
        "the consumer got {} of {events}",
        consumed.load(Ordering::Acquire)
    );
    let through = events as f64 / last.duration_since(started).as_secs_f64();
    let mut lags = lags.lock().unwrap().clone();
    lags.sort_by(f64::total_cmp);
    println!("ingest with the sink:    {sink_eps:.0} events/s acknowledged");
    println!("collector -> broker -> consumer: {through:.0} events/s ({events} events)");
    println!(
        "forward lag (receivedAt -> consumer): p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0.0)
    );
}
