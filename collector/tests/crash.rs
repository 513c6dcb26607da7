//! The durability proof of issue 3: concurrent clients post while the real collector
//! process is killed with SIGKILL at a random moment and restarted, round after round.
//! Every messageId that got a 200 must be in the feed exactly once afterwards.
//!
//! - `CAIRN_CRASH_ROUNDS` (default 20): how many kill / restart rounds.
//! - `CAIRN_CRASH_SEED`: replay a run; the seed in use is printed either way.
//!
//! Clients retry a batch whose request failed (the process died under it) once the
//! collector is back, as an at-least-once SDK does; some of those batches were already
//! durable, so deduplication is exercised too.

use std::{
    collections::{HashMap, HashSet},
    io::Write,
    sync::{
        atomic::{AtomicBool, Ordering},
        Barrier, Condvar, Mutex,
    },
    time::{Duration, Instant},
};

use cairn_testkit::{temp_dir, CollectorProcess, READ_KEY, WRITE_KEY};
use flate2::{write::GzEncoder, Compression};
use serde::Deserialize;
use serde_json::{json, Value};

const CLIENTS: usize = 4;
/// The crash moment is drawn from this range, measured from the start of a round.
const KILL_AFTER_MS: std::ops::Range<u64> = 20..300;
/// A client that cannot get its batch acknowledged for this long fails the test.
const RETRY_DEADLINE: Duration = Duration::from_secs(60);

/// splitmix64: a small seeded generator, so a failing run can be replayed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, r: std::ops::Range<u64>) -> u64 {
        r.start + self.next() % (r.end - r.start)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Which process generation is serving: bumped after every restart, so a client whose
/// request failed knows when to try again.
struct Generation {
    number: Mutex<u64>,
    changed: Condvar,
}

impl Generation {
    fn current(&self) -> u64 {
        *self.number.lock().unwrap()
    }

    fn bump(&self) {
        *self.number.lock().unwrap() += 1;
        self.changed.notify_all();
    }

    /// Blocks until a generation newer than `seen` serves (or the deadline passes).
    fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        let mut number = self.number.lock().unwrap();
        while *number <= seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            number = self.changed.wait_timeout(number, left).unwrap().0;
        }
        true
    }
}

/// What one client did in one round.
#[derive(Default)]
struct ClientReport {
    /// messageIds whose batch got a 200.
    acked: Vec<String>,
    batches: usize,
    /// Requests that failed because the process died (retried later).
    failed_requests: usize,
    /// Events a retry found already stored: acknowledged by nobody, yet durable.
    duplicates_on_retry: usize,
}

fn build_batch(rng: &mut Rng, ids: &[String]) -> Value {
    let events: Vec<Value> = ids
        .iter()
        .map(|id| {
            let mut event = json!({
                "type": "track",
                "event": "crash_probe",
                "messageId": id,
                "anonymousId": format!("anon-{}", rng.range(0..50)),
                "timestamp": "2026-01-01T12:00:00Z",
                "properties": {"n": rng.next() % 1000, "pad": "x".repeat(rng.range(0..200) as usize)},
            });
            if rng.chance(30) {
                event["userId"] = json!(format!("user-{}", rng.range(0..20)));
            }
            event
        })
        .collect();
    json!({"batch": events, "sentAt": "2026-01-01T12:00:00Z"})
}

/// Posts one batch; `Ok(body)` on 200, `Err(())` when the connection failed (the process
/// is being killed or is not back yet). Any other answer fails the test, except 503,
/// which is retried like a connection error but without waiting for a restart.
enum Posted {
    Ok(Value),
    ConnectionFailed,
    Overloaded,
}

fn post(client: &reqwest::blocking::Client, url: &str, body: &[u8], gzip: bool) -> Posted {
    let mut request = client
        .post(format!("{url}/v1/batch"))
        .basic_auth(WRITE_KEY, Some(""))
        .header("content-type", "application/json");
    let payload = if gzip {
        request = request.header("content-encoding", "gzip");
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    } else {
        body.to_vec()
    };
    let response = match request.body(payload).send() {
        Ok(r) => r,
        Err(_) => return Posted::ConnectionFailed,
    };
    let status = response.status().as_u16();
    match (status, response.text()) {
        (200, Ok(text)) => Posted::Ok(serde_json::from_str(&text).expect("200 body is JSON")),
        // The process died after the head but before the body was read.
        (_, Err(_)) => Posted::ConnectionFailed,
        (503, Ok(_)) => Posted::Overloaded,
        (status, Ok(text)) => panic!("unexpected {status} from the collector: {text}"),
    }
}

/// One client's round: post batches until `stop`, each one retried until it is acked.
fn client_round(
    url: &str,
    round: usize,
    client_no: usize,
    mut rng: Rng,
    start: &Barrier,
    stop: &AtomicBool,
    generation: &Generation,
) -> ClientReport {
    // No idle connections are kept: a pooled connection to a killed process would fail
    // a request sent to its successor and look like a failure of the new generation.
    let http = cairn_testkit::http_client()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut report = ClientReport::default();
    start.wait();
    while !stop.load(Ordering::Acquire) {
        let size = rng.range(1..101) as usize;
        let ids: Vec<String> = (0..size)
            .map(|i| format!("r{round}-c{client_no}-b{}-e{i}", report.batches))
            .collect();
        let body = serde_json::to_vec(&build_batch(&mut rng, &ids)).unwrap();
        let gzip = rng.chance(30);
        let deadline = Instant::now() + RETRY_DEADLINE;
        let mut failed_before = false;
        loop {
            let seen = generation.current();
            match post(&http, url, &body, gzip) {
                Posted::Ok(answer) => {
                    assert_eq!(
                        answer["accepted"], size,
                        "all of the batch accepted: {answer}"
                    );
                    assert_eq!(answer["rejected"], json!([]), "{answer}");
                    let duplicates = answer["duplicates"].as_u64().unwrap() as usize;
                    if !failed_before {
                        assert_eq!(duplicates, 0, "a first send has no duplicates: {answer}");
                    }
                    report.duplicates_on_retry += duplicates;
                    report.acked.extend(ids);
                    break;
                }
                Posted::ConnectionFailed => {
                    report.failed_requests += 1;
                    failed_before = true;
                    // The request may or may not have been committed: wait for the next
                    // process and send the very same batch again.
                    assert!(
                        generation.wait_past(seen, deadline),
                        "client {client_no} in round {round}: no collector came back in {RETRY_DEADLINE:?}"
                    );
                }
                Posted::Overloaded => {
                    assert!(
                        Instant::now() < deadline,
                        "overloaded for {RETRY_DEADLINE:?}"
                    );
                    // Retry-After says one second; a short pause is enough on loopback.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        report.batches += 1;
    }
    report
}

#[derive(Deserialize)]
struct FeedRecord {
    cursor: u64,
    kind: String,
    key: String,
}

/// The whole feed, parsed only as far as the check needs.
fn read_feed(collector: &CollectorProcess) -> Vec<FeedRecord> {
    let http = collector.client();
    let mut records: Vec<FeedRecord> = Vec::new();
    let mut after = 0;
    loop {
        let text = http
            .get(format!(
                "{}/v1/feed?after={after}&limit=10000",
                collector.url
            ))
            .bearer_auth(READ_KEY)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .expect("read feed");
        let before = records.len();
        for line in text.lines() {
            records.push(serde_json::from_str(line).expect("feed line"));
        }
        match records.last() {
            Some(last) if records.len() > before => after = last.cursor,
            _ => return records,
        }
    }
}

/// Every acked messageId exactly once, no messageId twice, cursors strictly increasing,
/// nothing that was never sent. Returns the number of event records.
fn check_feed(collector: &CollectorProcess, acked: &HashSet<String>, when: &str) -> usize {
    let records = read_feed(collector);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut last_cursor = 0;
    for record in &records {
        assert!(
            record.cursor > last_cursor,
            "{when}: cursor {} after {last_cursor}: cursors must strictly increase",
            record.cursor
        );
        last_cursor = record.cursor;
        assert_eq!(record.kind, "event", "{when}: only events were posted");
        *seen.entry(record.key.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{when}: messageIds stored more than once: {twice:?}"
    );
    let mut lost: Vec<&String> = acked
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    lost.sort();
    assert!(
        lost.is_empty(),
        "{when}: {} acknowledged events are missing from the feed, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    // Every posted batch was retried until acknowledged, so nothing else can be there.
    let phantom: Vec<_> = seen
        .keys()
        .filter(|id| !acked.contains(**id))
        .take(10)
        .collect();
    assert!(
        phantom.is_empty(),
        "{when}: never-acked ids in the feed: {phantom:?}"
    );
    assert!(records.len() >= acked.len());
    records.len()
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let rounds: usize = std::env::var("CAIRN_CRASH_ROUNDS")
        .ok()
        .map(|v| v.parse().expect("CAIRN_CRASH_ROUNDS is a number"))
        .unwrap_or(20);
    let seed: u64 = match std::env::var("CAIRN_CRASH_SEED") {
        Ok(v) => v.parse().expect("CAIRN_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    println!("crash test: {rounds} rounds, {CLIENTS} clients, seed {seed} (replay with CAIRN_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let data_dir = temp_dir("crash");
    let mut collector =
        CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), &data_dir, &[]);
    let url = collector.url.clone();
    let generation = Generation {
        number: Mutex::new(0),
        changed: Condvar::new(),
    };
    let mut acked: HashSet<String> = HashSet::new();
    let (mut failed_requests, mut duplicates_on_retry, mut batches) = (0, 0, 0);
    let mut slowest_restart = Duration::ZERO;
    let started = Instant::now();

    for round in 0..rounds {
        let kill_after = Duration::from_millis(rng.range(KILL_AFTER_MS));
        let client_rngs: Vec<Rng> = (0..CLIENTS).map(|_| Rng(rng.next())).collect();
        let start = Barrier::new(CLIENTS + 1);
        let stop = AtomicBool::new(false);
        let mut restart_took = Duration::ZERO;
        let reports: Vec<ClientReport> = std::thread::scope(|s| {
            let handles: Vec<_> = client_rngs
                .into_iter()
                .enumerate()
                .map(|(c, client_rng)| {
                    let (url, start, stop, generation) = (&url, &start, &stop, &generation);
                    s.spawn(move || {
                        client_round(url, round, c, client_rng, start, stop, generation)
                    })
                })
                .collect();
            start.wait();
            // Not synchronisation: this sleep *is* the crash schedule, a random moment
            // while the clients are posting.
            std::thread::sleep(kill_after);
            collector.kill9();
            let restarting = Instant::now();
            collector.restart();
            restart_took = restarting.elapsed();
            generation.bump();
            stop.store(true, Ordering::Release);
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        let round_acked: usize = reports.iter().map(|r| r.acked.len()).sum();
        let round_failed: usize = reports.iter().map(|r| r.failed_requests).sum();
        let round_dups: usize = reports.iter().map(|r| r.duplicates_on_retry).sum();
        for report in reports {
            batches += report.batches;
            for id in report.acked {
                assert!(
                    acked.insert(id.clone()),
                    "messageId {id} acked twice by the test itself"
                );
            }
        }
        slowest_restart = slowest_restart.max(restart_took);
        failed_requests += round_failed;
        duplicates_on_retry += round_dups;
        let stored = check_feed(&collector, &acked, &format!("after round {round}"));
        println!(
            "round {round:>2}: killed after {:>3} ms, {round_acked:>5} events acked, {round_failed} requests cut, \
             {round_dups} already-durable events re-sent; restart took {restart_took:.0?}; feed holds {stored}",
            kill_after.as_millis()
        );
    }

    // A final restart, then the whole feed once more.
    collector.restart();
    let stored = check_feed(&collector, &acked, "at the end");
    println!(
        "crash test passed in {:.1?}: {rounds} SIGKILLs, {batches} batches, {} events acked, {stored} in the feed \
         (each once), {failed_requests} requests cut by a kill, {duplicates_on_retry} events re-sent after being made durable; \
         slowest restart {slowest_restart:.0?}; data dir {} KiB",
        started.elapsed(),
        acked.len(),
        dir_bytes(&data_dir) / 1024
    );
    assert!(
        acked.len() >= rounds,
        "the clients got almost nothing acknowledged"
    );
    assert!(
        failed_requests > 0,
        "no kill ever hit a request: the test proves nothing"
    );
    assert!(
        collector.terminate().success(),
        "SIGTERM after the rounds exits 0"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
