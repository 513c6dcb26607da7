//! The identity index is derived data: one that opens but is damaged must be found out
//! and rebuilt from the log, never trusted and never a reason to refuse to start. Each
//! case damages the sled files of a stopped collector (bytes flipped, the file cut in
//! half, a stale copy from earlier, the index of another data dir, entries removed
//! through sled itself with the manifest left as it was), starts the collector
//! on it, and deletes a user: every event of the user, those tied to it through its
//! anonymous id included, is gone from the feed and from the log's bytes, and nobody
//! else's is.

mod api_support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use api_support::*;
use cairn_testkit::{temp_dir, CollectorProcess};
use serde_json::{json, Value};

const VICTIM_MARK: &str = "victim-marker";
const OTHER_MARK: &str = "other-marker";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cairn-collector")
}

/// A batch of the victim's events (by userId, and by an anonymous id tied to it) and of
/// other users'.
fn batch(stage: &str, n: usize) -> Value {
    let mut events = vec![json!({"type": "identify", "userId": "victim",
        "anonymousId": "victim-device", "messageId": format!("{stage}-tie"),
        "traits": {"plan": "pro"}})];
    for i in 0..n {
        events.push(
            json!({"type": "track", "event": "Viewed", "userId": "victim",
            "messageId": format!("{stage}-v-{i}"), "properties": {"mark": VICTIM_MARK}}),
        );
        events.push(
            json!({"type": "track", "event": "Viewed", "anonymousId": "victim-device",
            "messageId": format!("{stage}-d-{i}"), "properties": {"mark": VICTIM_MARK}}),
        );
        events.push(
            json!({"type": "track", "event": "Viewed", "userId": format!("user-{i}"),
            "messageId": format!("{stage}-o-{i}"), "properties": {"mark": OTHER_MARK}}),
        );
    }
    json!({ "batch": events })
}

/// Other users' events only, more of them than the fixture's log holds: an index of
/// them covers past that log's end and knows nothing of the victim.
fn foreign_batch(part: usize) -> Value {
    let events: Vec<Value> = (0..150)
        .map(|i| {
            json!({"type": "track", "event": "Viewed", "userId": format!("user-{i}"),
                   "messageId": format!("foreign-{part}-{i}"), "properties": {"mark": "x"}})
        })
        .collect();
    json!({ "batch": events })
}

/// Posts a stage, waits until the index has caught up (a deletion of nobody waits for
/// it) and stops the collector with SIGTERM, which flushes the index.
fn stage(c: &mut CollectorProcess, name: &str) {
    for part in 0..8 {
        let body = match name {
            "foreign" => foreign_batch(part),
            _ if part < 4 => batch(&format!("{name}-{part}"), 40),
            _ => continue,
        };
        let reply = post_json(c, "/v1/batch", &body);
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(delete_user(c, "nobody").status, 200);
    assert!(c.terminate().success());
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a");
}

fn marks(c: &CollectorProcess, mark: &str) -> usize {
    feed_events(c)
        .iter()
        .filter(|r| r["value"]["properties"]["mark"] == mark)
        .count()
}

/// A data dir with two stages of events, a copy of its index taken after the first
/// stage, and the data dir of another collector.
struct Fixture {
    _root: cairn_testkit::TempDir,
    data: PathBuf,
    stale_index: PathBuf,
    foreign_index: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let root = temp_dir(name);
    let data = root.join("data");
    let mut c = CollectorProcess::start(bin(), &data, &[]);
    stage(&mut c, "first");
    let stale_index = root.join("stale-index");
    copy_dir(&data.join("index"), &stale_index);
    c.restart();
    stage(&mut c, "second");
    let other = root.join("other");
    let mut o = CollectorProcess::start(bin(), &other, &[]);
    stage(&mut o, "foreign");
    Fixture {
        foreign_index: other.join("index"),
        _root: root,
        data,
        stale_index,
    }
}

/// Applies `damage` to the index of a copy of the fixture's data dir, then starts a
/// collector on it and deletes the victim.
fn damaged(f: &Fixture, case: &str, damage: impl FnOnce(&Path)) {
    let dir = f.data.with_file_name(format!("case-{case}"));
    copy_dir(&f.data, &dir);
    damage(&dir.join("index"));
    let c = CollectorProcess::start(bin(), &dir, &[]);
    let before_other = marks(&c, OTHER_MARK);
    assert_eq!(
        marks(&c, VICTIM_MARK),
        2 * 2 * 4 * 40,
        "{case}: the victim's events"
    );
    let reply = delete_user(&c, "victim");
    assert_eq!(reply.status, 200, "{case}: {}", reply.text);
    assert_eq!(
        marks(&c, VICTIM_MARK),
        0,
        "{case}: the victim's events in the feed"
    );
    assert_eq!(
        marks(&c, OTHER_MARK),
        before_other,
        "{case}: other users' events"
    );
    assert_eq!(
        occurrences_in_dir(&dir.join("log"), VICTIM_MARK.as_bytes()),
        0,
        "{case}: the victim's bytes in the log"
    );
    drop(c);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn replace_dir(index: &Path, with: &Path) {
    std::fs::remove_dir_all(index).unwrap();
    copy_dir(with, index);
}

#[test]
fn a_damaged_index_is_rebuilt_and_a_deletion_still_takes_everything() {
    let f = fixture("index-damage");
    damaged(&f, "flipped", |index| {
        // Bytes flipped through every file of the index, every 509 bytes.
        for file in files(index) {
            let mut bytes = std::fs::read(&file).unwrap();
            for at in (0..bytes.len()).step_by(509) {
                bytes[at] ^= 0x5a;
            }
            std::fs::write(&file, bytes).unwrap();
        }
    });
    damaged(&f, "truncated", |index| {
        for file in files(index) {
            let len = std::fs::metadata(&file).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        }
    });
    damaged(&f, "stale", |index| replace_dir(index, &f.stale_index));
    damaged(&f, "foreign", |index| replace_dir(index, &f.foreign_index));
    damaged(&f, "entries-removed", |index| {
        // Whole to sled, manifest intact, but the entries that say where the user's
        // events are gone: only reading the entries back against the digest tells.
        let db = sled::open(index).unwrap();
        let doomed: Vec<_> = db.scan_prefix(b"i").keys().map(Result::unwrap).collect();
        assert!(!doomed.is_empty());
        for key in doomed {
            db.remove(key).unwrap();
        }
        db.flush().unwrap();
    });
    damaged(&f, "emptied", |index| {
        for file in files(index) {
            std::fs::write(&file, b"").unwrap();
        }
    });
}
