//! EIO and a failed fsync, injected through the fault-injection seam in the event log's
//! file layer (`store::fault`, cargo feature `fault-injection`). This is a seam, not a
//! failing disk: the operation it fails is not attempted; a real full disk is in
//! `disk_full.rs`. The rules checked (from `store/log.rs`):
//! - a group whose fdatasync (or write) failed is answered 503 `storage_unavailable` with
//!   Retry-After and never acknowledged; its segment is never written or synced again,
//!   and appends go on in a new segment that starts at the group's first seq;
//! - the collector heals by itself (no restart) and the client's retry is stored once;
//! - every acknowledged event is in the feed exactly once, after the healing and after a
//!   SIGKILL and restart (which must not read the cut-off group's bytes, still on disk);
//! - a read the disk refuses answers 503 with Retry-After and loses nothing;
//! - a deletion whose zeroing sync fails answers 503, keeps the user's events hidden, and
//!   is redone at the next start by writing the zeroed frames again (the page cache shows
//!   them zeroed, the disk may not hold that) and syncing them.

mod api_support;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use api_support::*;
use cairn_testkit::{temp_dir, CollectorProcess, READ_KEY};
use serde_json::json;

struct Faulty {
    c: CollectorProcess,
    control: PathBuf,
}

fn start(root: &Path) -> Faulty {
    let control = root.join("faults");
    let c = CollectorProcess::start(
        env!("CARGO_BIN_EXE_cairn-collector"),
        root.join("data"),
        &["--fault-injection-file", control.to_str().unwrap()],
    );
    Faulty { c, control }
}

impl Faulty {
    /// Arms the seam: the file is written aside and renamed, so it is read whole.
    fn arm(&self, spec: &str) {
        let aside = self.control.with_extension("new");
        std::fs::write(&aside, spec).unwrap();
        std::fs::rename(&aside, &self.control).unwrap();
    }

    /// Lines of the seam's trace: `write|sync FILE ok|EIO`.
    fn trace(&self) -> Vec<String> {
        std::fs::read_to_string(self.control.with_extension("trace"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn log_dir(&self) -> PathBuf {
        self.c.data_dir.join("log")
    }
}

fn batch(tag: &str, n: usize) -> serde_json::Value {
    let events: Vec<_> = (0..n)
        .map(|i| {
            json!({"type": "track", "event": "Viewed", "anonymousId": format!("a-{tag}"),
                   "messageId": format!("{tag}-{i}")})
        })
        .collect();
    json!({ "batch": events })
}

const N: usize = 20;

fn await_ready(c: &CollectorProcess) {
    let started = Instant::now();
    while get(c, "/readyz", None).status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never ready again"
        );
        std::thread::yield_now();
    }
}

/// Every event of `acknowledged` exactly once, none of `refused`.
fn check_feed(c: &CollectorProcess, acknowledged: &[&str], refused: &[&str]) {
    let keys = feed_keys(c);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "each event once: {keys:?}");
    for tag in acknowledged {
        for i in 0..N {
            assert!(unique.contains(&format!("{tag}-{i}")), "{tag}-{i} missing");
        }
    }
    for tag in refused {
        for i in 0..N {
            assert!(!unique.contains(&format!("{tag}-{i}")), "{tag}-{i} stored");
        }
    }
    assert_eq!(keys.len(), acknowledged.len() * N);
}

fn refused_with_retry(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.error(), "storage_unavailable", "{}", reply.text);
    assert!(reply.header("retry-after").is_some(), "Retry-After");
}

/// One failed write or sync: 503, the segment cut off and never touched again, healed
/// without a restart; the retry stored once; the same after SIGKILL and restart.
fn one_failure(name: &str, op: &str) {
    let root = temp_dir(name);
    let mut f = start(&root);
    assert_eq!(
        post_json(&f.c, "/v1/batch", &batch("before", N)).status,
        200
    );
    let before_segments = std::fs::read_dir(f.log_dir()).unwrap().count();

    f.arm(&format!("{op} 1"));
    refused_with_retry(&post_json(&f.c, "/v1/batch", &batch("failed", N)));
    let trace = f.trace();
    let failed_at = trace
        .iter()
        .position(|l| l.starts_with(op) && l.ends_with(" EIO"))
        .unwrap_or_else(|| panic!("no injected {op} failure in {trace:?}"));
    let failed_file = trace[failed_at]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();

    await_ready(&f.c);
    assert_eq!(post_json(&f.c, "/v1/batch", &batch("after", N)).status, 200);
    check_feed(&f.c, &["before", "after"], &["failed"]);
    // The client's retry of the refused batch: stored, not taken for a duplicate.
    let retry = post_json(&f.c, "/v1/batch", &batch("failed", N));
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.json()["duplicates"], 0, "{}", retry.text);
    let acknowledged = ["before", "after", "failed"];
    check_feed(&f.c, &acknowledged, &[]);

    // The failed segment was never written or synced again (PostgreSQL's fsync rule),
    // and appends went on in a new segment.
    let trace = f.trace();
    let touched: Vec<&String> = trace[failed_at + 1..]
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some(failed_file.as_str()))
        .collect();
    assert!(
        touched.is_empty(),
        "{failed_file} touched after its failure: {touched:?}"
    );
    let segments = std::fs::read_dir(f.log_dir()).unwrap().count();
    assert!(
        segments > before_segments,
        "a new segment after the failure"
    );
    if op == "sync" {
        // The failed group's bytes are still in the old segment: only the cut keeps a
        // restart from reading them.
        let old = std::fs::read(f.log_dir().join(&failed_file)).unwrap();
        assert!(
            occurrences(&old, b"failed-0") > 0,
            "the failed group's bytes stay"
        );
    }

    f.c.kill9();
    f.c.restart();
    check_feed(&f.c, &acknowledged, &[]);
    assert_eq!(
        post_json(&f.c, "/v1/batch", &batch("restarted", N)).status,
        200
    );
    check_feed(&f.c, &["before", "after", "failed", "restarted"], &[]);
}

#[test]
fn a_failed_fdatasync_refuses_its_group_cuts_its_segment_off_and_heals() {
    one_failure("faults-sync", "sync");
}

#[test]
fn an_eio_on_write_refuses_its_group_and_heals() {
    one_failure("faults-write", "write");
}

#[test]
fn a_disk_that_keeps_failing_stays_unready_then_heals() {
    let root = temp_dir("faults-repeated");
    let mut f = start(&root);
    assert_eq!(
        post_json(&f.c, "/v1/batch", &batch("before", N)).status,
        200
    );
    // The group's sync and the healer's probe syncs fail for a while.
    f.arm("sync 4");
    refused_with_retry(&post_json(&f.c, "/v1/batch", &batch("failed", N)));
    assert_eq!(get(&f.c, "/readyz", None).status, 503);
    await_ready(&f.c);
    assert_eq!(post_json(&f.c, "/v1/batch", &batch("after", N)).status, 200);
    check_feed(&f.c, &["before", "after"], &["failed"]);
    f.c.kill9();
    f.c.restart();
    check_feed(&f.c, &["before", "after"], &["failed"]);
}

#[test]
fn an_eio_on_read_answers_503_and_loses_nothing() {
    let root = temp_dir("faults-read");
    let mut f = start(&root);
    for tag in ["one", "two"] {
        assert_eq!(post_json(&f.c, "/v1/batch", &batch(tag, N)).status, 200);
    }
    // Every read fails until cleared (the indexer may take some of them too).
    f.arm("read 1000000");
    let reply = get(&f.c, "/v1/feed?after=0", Some(&basic(READ_KEY)));
    refused_with_retry(&reply);
    f.arm("clear");
    check_feed(&f.c, &["one", "two"], &[]);
    assert_eq!(post_json(&f.c, "/v1/batch", &batch("three", N)).status, 200);
    f.c.kill9();
    f.c.restart();
    check_feed(&f.c, &["one", "two", "three"], &[]);
}

#[test]
fn a_deletion_whose_zeroing_sync_fails_stays_hidden_and_is_redone_at_the_next_start() {
    let root = temp_dir("faults-deletion");
    let mut f = start(&root);
    let events: Vec<_> = (0..N)
        .flat_map(|i| {
            [
                json!({"type": "track", "event": "Viewed", "userId": "victim",
                       "messageId": format!("victim-{i}"), "properties": {"mark": "victim-mark"}}),
                json!({"type": "track", "event": "Viewed", "userId": format!("other-{i}"),
                       "messageId": format!("other-{i}")}),
            ]
        })
        .collect();
    let reply = post_json(&f.c, "/v1/batch", &json!({ "batch": events }));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let others: Vec<String> = (0..N).map(|i| format!("other-{i}")).collect();

    // The tombstone's sync passes, the zeroing's fails.
    f.arm("sync 1 after 1");
    refused_with_retry(&delete_user(&f.c, "victim"));
    assert_eq!(
        feed_keys(&f.c),
        others,
        "the victim's events hidden meanwhile"
    );
    await_ready(&f.c);

    // A restart (same kernel, same page cache, which shows the frames zeroed) writes
    // them again and syncs them, instead of trusting what it reads.
    let before = f.trace().len();
    f.c.kill9();
    f.c.restart();
    let segment = "00000000000000000001.log";
    let after: Vec<String> = f.trace()[before..].to_vec();
    assert!(
        after.contains(&format!("write {segment} ok")),
        "no zeroing written again: {after:?}"
    );
    assert!(
        after.contains(&format!("sync {segment} ok")),
        "no sync of it: {after:?}"
    );
    assert_eq!(feed_keys(&f.c), others);
    assert_eq!(occurrences_in_dir(&f.log_dir(), b"victim-mark"), 0);
}
