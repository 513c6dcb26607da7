//! Kafka sink benchmark: collector -> tansu broker -> rdkafka consumer, on this machine.
//!
//! Phase 1 saturates a collector without the sink (the ingest figure); phase 2 the same
//! load against a collector forwarding to the broker, with a consumer reading the topic
//! meanwhile; phase 3 posts at a fixed rate below that (`CAIRN_BENCH_PACED`, default
//! 10,000 events/s). Reported: acknowledged events/s, events/s through to the consumer
//! (all acknowledged events over the time until the consumer had the last one), and
//! the forward lag (an event's receivedAt to its arrival at the consumer) p50 / p99:
//! under saturation it is the backlog's age, at the paced rate the sink's own delay.
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

/// Posts `rate` events/s for `secs` from 4 threads on a fixed schedule (a late batch is
/// sent at once); acknowledged events and elapsed.
fn paced(url: &str, rate: u64, secs: u64, seq: &Arc<AtomicU64>) -> (u64, Duration) {
    const THREADS: u64 = 4;
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let interval = Duration::from_secs_f64((BATCH * THREADS) as f64 / rate as f64);
    let batches = secs * rate / BATCH / THREADS;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (url, acked, seq) = (url.to_owned(), acked.clone(), seq.clone());
            std::thread::spawn(move || {
                let client = http_client().build().unwrap();
                let offset = interval.mul_f64(t as f64 / THREADS as f64);
                for k in 0..batches {
                    let due = started + offset + interval * k as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait); // the load's schedule
                    }
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
    for t in threads {
        t.join().unwrap();
    }
    (acked.load(Ordering::Relaxed), started.elapsed())
}

/// What one run through the sink gave.
struct Through {
    acked_eps: f64,
    through_eps: f64,
    events: u64,
    /// Sorted forward lags, seconds.
    lags: Vec<f64>,
    /// p99 of the collector's `cairn_kafka_forward_delay_seconds` (receivedAt to the
    /// broker's ack), as the upper bound of its bucket.
    ack_p99: f64,
}

/// The upper bound of the bucket holding the 99th percentile of a histogram in
/// Prometheus text.
fn histogram_p99(metrics: &str, name: &str) -> f64 {
    let bucket = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&bucket)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|b| b.1 >= total * 0.99)
        .map_or(0.0, |b| b.0)
}

/// Runs `load` against a fresh collector forwarding to `topic` on `broker`, with a
/// consumer reading the topic until it has every acknowledged event.
fn through_sink(
    broker: &Broker,
    topic: &str,
    load: impl FnOnce(&str) -> (u64, Duration),
) -> Through {
    broker.create_topic(topic, 4);
    let dir = temp_dir(&format!("kafka-bench-{topic}"));
    let c = collector(&dir, &broker.address(), topic, &[]);
    let lags = Arc::new(Mutex::new(Vec::<f64>::new()));
    let consumed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (address, topic, lags, consumed, done) = (
            broker.address(),
            topic.to_owned(),
            lags.clone(),
            consumed.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let reader = Reader::new(&address, &topic, 4);
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
    // Warm-up: the producer's connection, producer id and metadata, and the consumer's
    // assignment, are set up by one batch before the measured load.
    let warm = http_client().build().unwrap();
    let warm_ok = warm
        .post(format!("{}/v1/batch", c.url))
        .basic_auth(WRITE_KEY, Some(""))
        .header("content-type", "application/json")
        .body(batch_body(u64::MAX / 2))
        .send()
        .is_ok_and(|r| r.status().is_success());
    assert!(warm_ok, "warm-up batch refused");
    assert!(kafka_support::poll_until(Duration::from_secs(60), || {
        consumed.load(Ordering::Acquire) >= BATCH
    }));
    let base = consumed.load(Ordering::Acquire);
    lags.lock().unwrap().clear();
    let started = Instant::now();
    let (events, elapsed) = load(&c.url);
    let all_in = kafka_support::poll_until(Duration::from_secs(600), || {
        consumed.load(Ordering::Acquire) >= base + events
    });
    done.store(true, Ordering::Release);
    let last = consumer.join().unwrap();
    let metrics = http_client()
        .build()
        .unwrap()
        .get(format!("{}/metrics", c.url))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    let ack_p99 = histogram_p99(&metrics, "cairn_kafka_forward_delay_seconds");
    assert!(
        all_in,
        "the consumer got {} of {events}",
        consumed.load(Ordering::Acquire)
    );
    let mut lags = lags.lock().unwrap().clone();
    lags.sort_by(f64::total_cmp);
    Through {
        acked_eps: events as f64 / elapsed.as_secs_f64(),
        through_eps: events as f64 / last.duration_since(started).as_secs_f64(),
        events,
        lags,
        ack_p99,
    }
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
    let run = through_sink(&broker, "saturated", |url| {
        saturate(url, clients, secs, &seq)
    });
    println!(
        "ingest with the sink:    {:.0} events/s acknowledged",
        run.acked_eps
    );
    println!(
        "collector -> broker -> consumer: {:.0} events/s ({} events)",
        run.through_eps, run.events
    );
    report_lag("saturated", &run);
    let rate = env_or("CAIRN_BENCH_PACED", 10_000);
    let run = through_sink(&broker, "paced", |url| paced(url, rate, secs, &seq));
    println!(
        "paced at {rate} events/s: {:.0} acknowledged/s",
        run.acked_eps
    );
    report_lag("paced", &run);
}

fn report_lag(label: &str, run: &Through) {
    let lags = &run.lags;
    println!(
        "forward lag, {label} (receivedAt -> consumer): p50 {:.3} s, p99 {:.3} s, max {:.3} s; \
         receivedAt -> broker ack p99 <= {} s (collector histogram)",
        percentile(lags, 0.5),
        percentile(lags, 0.99),
        lags.last().copied().unwrap_or(0.0),
        run.ack_p99
    );
}
