//! The collector is late, or goes away mid-stream: events still arrive, each once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::{ClientOptions, Tracked};
use cairn_e2e::*;
use serde_json::json;

/// The SDK starts and tracks while nothing listens on its endpoint; the collector
/// starts on that port 5 s later. Every event arrives, once.
#[test]
fn collector_starts_5s_after_the_sdk() {
    let run = run_tag("late-collector");
    let dir = temp_dir("late-collector");
    let port = DeadPort::reserve();
    let rt = runtime();
    let mut cfg = config(&port.url());
    // The default cap (5 min) is right for apps; here the retry after the collector
    // comes up should not wait for a long jittered backoff step. Base stays 1 s.
    cfg.backoff_cap = Duration::from_secs(2);
    let client = client(&rt, cfg, &dir.join("sdk"));
    let started = Instant::now();

    const COUNT: u64 = 30;
    for n in 0..COUNT {
        let t = client
            .track("e2e_late", json!({"run": run, "n": n}))
            .unwrap();
        assert_eq!(t, Tracked::Queued);
    }
    // Nothing listens: the attempt the flush asks for fails, and the events stay queued.
    assert!(
        rt.block_on(client.flush()).is_err(),
        "flush with no collector"
    );
    assert_eq!(client.with_engine(|e| e.queued()), COUNT as usize);

    // The scenario's delay: the collector comes up 5 s after the SDK started.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(started.elapsed()));
    let addr = port.release();
    let collector = CollectorProcess::start_on(collector_bin(), dir.join("collector"), addr, &[]);

    let failed = flush_until_delivered(&rt, &client, Duration::from_secs(20));
    eprintln!(
        "late collector: delivered {:.1?} after the SDK started ({failed} more failed attempts)",
        started.elapsed()
    );
    assert_eq!(client.with_engine(|e| e.queued()), 0);
    let events = collector.wait_for_events(COUNT as usize, Duration::from_secs(10));
    let events: Vec<_> = events.into_iter().map(|r| r["value"].clone()).collect();
    assert_exactly_once(&events, &run, COUNT);
    assert_eq!(events.len() as u64, COUNT);
    let anon = client.with_engine(|e| e.anonymous_id().to_string());
    assert!(events.iter().all(|e| e["anonymousId"] == anon.as_str()));
    assert!(events.iter().all(|e| e["event"] == "e2e_late"));
}

/// The SDK tracks a steady stream; the collector is killed with SIGKILL and restarted
/// (same port, same data dir) mid-stream, then stopped with SIGTERM and restarted.
/// The feed holds every event exactly once.
#[test]
fn collector_restarted_mid_stream() {
    let run = run_tag("restart");
    let dir = temp_dir("restart");
    let mut collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let client = Arc::new(client(&rt, config(&collector.url), &dir.join("sdk")));

    // The stream: one event every 2 ms (the pacing is the scenario: a stream that
    // spans the restarts) until told to stop, then 100 more.
    let stop = Arc::new(AtomicBool::new(false));
    let tracked = Arc::new(AtomicU64::new(0));
    let tracker = {
        let (client, stop, tracked, run) =
            (client.clone(), stop.clone(), tracked.clone(), run.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            let mut last = u64::MAX;
            while n < last {
                let t = client
                    .track("e2e_stream", json!({"run": run, "n": n}))
                    .unwrap();
                assert_eq!(t, Tracked::Queued);
                n += 1;
                tracked.store(n, Ordering::SeqCst);
                if last == u64::MAX && stop.load(Ordering::SeqCst) {
                    last = n + 100;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };

    // Some batches delivered, then SIGKILL + start again on the same port and data dir.
    let seen = collector.wait_for_events(60, Duration::from_secs(20)).len();
    assert!(
        seen >= 60,
        "stream not delivering before the restart: {seen}"
    );
    let before_kill = tracked.load(Ordering::SeqCst);
    collector.kill9();
    // The scenario's delay: the collector stays down for 500 ms while the stream goes on.
    std::thread::sleep(Duration::from_millis(500));
    collector.restart(); // starts it again on the same port and data dir
    let after_kill = tracked.load(Ordering::SeqCst);
    // More delivered to the new process, then SIGTERM (graceful) + start again.
    let seen = collector
        .wait_for_events(seen + 60, Duration::from_secs(20))
        .len();
    let status = collector.terminate();
    assert!(status.success(), "collector exit on SIGTERM: {status}");
    let before_restart = tracked.load(Ordering::SeqCst);
    collector.restart();
    stop.store(true, Ordering::SeqCst);
    let total = tracker.join().unwrap();
    eprintln!(
        "restart: kill -9 at event {before_kill} (up again at {after_kill}), \
         {seen} in the feed before SIGTERM at {before_restart}, {total} tracked"
    );

    let failed = flush_until_delivered(&rt, &client, Duration::from_secs(30));
    let events = collector.wait_for_events(total as usize, Duration::from_secs(10));
    let events: Vec<_> = events.into_iter().map(|r| r["value"].clone()).collect();
    eprintln!(
        "restart: {} events in the feed, {failed} failed flush attempts at the end",
        events.len()
    );
    let duplicates = duplicates_metric(&collector);
    eprintln!("restart: the last collector process acknowledged {duplicates} duplicates");
    assert_exactly_once(&events, &run, total);
    assert_eq!(events.len() as u64, total);
}

/// The collector freezes (SIGSTOP) with an upload on its socket: the SDK's request
/// times out and is retried while the first copy still waits in the collector. When
/// the collector resumes (SIGCONT) it may commit both copies' events: the feed still
/// holds each event once (the collector dedups by messageId).
#[test]
fn collector_frozen_mid_upload_sdk_retries_exactly_once() {
    let run = run_tag("frozen");
    let dir = temp_dir("frozen");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let options = ClientOptions {
        request_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    };
    let client = client_with(&rt, config(&collector.url), &dir.join("sdk"), options);

    signal(&collector, "STOP");
    const COUNT: u64 = 20;
    for n in 0..COUNT {
        client
            .track("e2e_frozen", json!({"run": run, "n": n}))
            .unwrap();
    }
    // Two attempts time out against the frozen process (each flush ends at one).
    assert!(
        rt.block_on(client.flush()).is_err(),
        "upload to a frozen collector"
    );
    assert!(
        rt.block_on(client.flush()).is_err(),
        "retry to a frozen collector"
    );
    signal(&collector, "CONT");

    let failed = flush_until_delivered(&rt, &client, Duration::from_secs(20));
    let events = collector.wait_for_events(COUNT as usize, Duration::from_secs(10));
    let events: Vec<_> = events.into_iter().map(|r| r["value"].clone()).collect();
    let duplicates = duplicates_metric(&collector);
    eprintln!(
        "frozen: {} events in the feed, {duplicates} duplicates acknowledged, \
         {failed} more failed attempts",
        events.len()
    );
    assert_exactly_once(&events, &run, COUNT);
    assert_eq!(events.len() as u64, COUNT);
}

/// The collector stores a batch but its answer is lost on the way back (the
/// connection is cut): the SDK retries the batch, and the feed holds each event once
/// (the retry is all duplicates, acknowledged and not stored again).
#[test]
fn response_lost_sdk_retries_exactly_once() {
    let run = run_tag("lost-response");
    let dir = temp_dir("lost-response");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let proxy = LossyProxy::start(collector.addr);
    let rt = runtime();
    let client = client(&rt, config(&proxy.url), &dir.join("sdk"));

    proxy.lose_responses(1);
    const COUNT: u64 = 20;
    for n in 0..COUNT {
        client
            .track("e2e_lost", json!({"run": run, "n": n}))
            .unwrap();
    }
    assert!(rt.block_on(client.flush()).is_err(), "the answer was lost");
    assert_eq!(proxy.lost(), 1);
    // The collector did store the batch the SDK thinks failed.
    let stored = feed_events(&collector);
    assert_eq!(
        stored.len() as u64,
        COUNT,
        "stored before the answer was lost"
    );

    let failed = flush_until_delivered(&rt, &client, Duration::from_secs(20));
    let events = feed_events(&collector);
    let duplicates = duplicates_metric(&collector);
    eprintln!(
        "lost response: {} events in the feed, {duplicates} duplicates acknowledged, \
         {failed} more failed attempts",
        events.len()
    );
    assert_eq!(
        duplicates, COUNT as f64,
        "the retry carried the same messageIds"
    );
    assert_exactly_once(&events, &run, COUNT);
    assert_eq!(events.len() as u64, COUNT);
}

fn signal(collector: &CollectorProcess, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &collector.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig}");
}

/// `cairn_events_duplicate_total` of the running collector process (0 if absent).
fn duplicates_metric(collector: &CollectorProcess) -> f64 {
    let text = collector
        .client()
        .get(format!("{}/metrics", collector.url))
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    text.lines()
        .filter(|l| l.starts_with("cairn_events_duplicate_total"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}
