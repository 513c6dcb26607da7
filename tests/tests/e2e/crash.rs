//! The app is killed with SIGKILL 500 ms after its last track(): the SDK's rule is
//! that an event is durable within 200 ms of track(), so a second run of the app on
//! the same data dir delivers every leftover, and nothing twice.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_e2e::*;

const SDK_CHILD: &str = env!("CARGO_BIN_EXE_cairn-sdk-child");

/// Runs `cairn-sdk-child track` (the first `flushed` events flushed, i.e. delivered,
/// before the rest are tracked), and SIGKILLs it 500 ms after it printed "tracked".
fn track_then_sigkill(data: &Path, endpoint: &str, count: u64, flushed: u64, run: &str) {
    let mut child = Command::new(SDK_CHILD)
        .arg("track")
        .arg(data)
        .args([endpoint, &count.to_string(), run, &flushed.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn cairn-sdk-child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = || {
        lines
            .next()
            .expect("a line from the child")
            .expect("stdout")
    };
    if flushed > 0 {
        assert_eq!(next_line(), format!("flushed {flushed}"));
    }
    assert_eq!(next_line(), "tracked");
    let tracked_at = Instant::now();
    // The scenario's delay: the process dies 500 ms after its last track().
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    let status = child.wait().unwrap();
    eprintln!(
        "crash: killed {:?} after tracked ({status})",
        tracked_at.elapsed()
    );
    assert!(
        !status.success(),
        "the child must die of the signal: {status}"
    );
}

/// Runs `cairn-sdk-child deliver`; returns how many events it found queued.
fn deliver(data: &Path, endpoint: &str) -> usize {
    let Output { status, stdout, .. } = Command::new(SDK_CHILD)
        .arg("deliver")
        .arg(data)
        .arg(endpoint)
        .stderr(Stdio::inherit())
        .output()
        .expect("run cairn-sdk-child deliver");
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(status.success(), "second run failed ({status}): {stdout}");
    assert!(stdout.contains("delivered"), "{stdout}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("queued "))
        .expect("queued line")
        .parse()
        .unwrap()
}

/// Nothing listened during the first run, so all N events were left over.
#[test]
fn sigkill_with_nothing_delivered_second_run_delivers_all_once() {
    const N: u64 = 50;
    let run = run_tag("crash-offline");
    let dir = temp_dir("crash-offline");
    let dead = DeadPort::reserve();
    track_then_sigkill(&dir.join("sdk"), &dead.url(), N, 0, &run);
    drop(dead);

    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let queued = deliver(&dir.join("sdk"), &collector.url);
    assert_eq!(queued as u64, N, "events that survived the SIGKILL");
    let events = collector.wait_for_events(N as usize, Duration::from_secs(10));
    let events: Vec<_> = events.into_iter().map(|r| r["value"].clone()).collect();
    assert_exactly_once(&events, &run, N);
    assert_eq!(events.len() as u64, N);
}

/// The first run delivered 40 events (a flush) and tracked 10 more (fewer than
/// `flush_at`, so they wait for the 10 s interval) before it was killed; the second
/// run delivers those 10, and the feed holds every event once.
#[test]
fn sigkill_after_partial_delivery_second_run_delivers_leftovers_once() {
    const N: u64 = 50;
    const FLUSHED: u64 = 40;
    let run = run_tag("crash-online");
    let dir = temp_dir("crash-online");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    track_then_sigkill(&dir.join("sdk"), &collector.url, N, FLUSHED, &run);
    let before = feed_events(&collector).len() as u64;
    assert_eq!(before, FLUSHED, "delivered by the first run");

    let queued = deliver(&dir.join("sdk"), &collector.url) as u64;
    assert_eq!(queued, N - FLUSHED, "left over for the second run");
    let events = collector.wait_for_events(N as usize, Duration::from_secs(10));
    let events: Vec<_> = events.into_iter().map(|r| r["value"].clone()).collect();
    assert_exactly_once(&events, &run, N);
    assert_eq!(events.len() as u64, N);
}
