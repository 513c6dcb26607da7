//! A full disk, for real: the data dir on a small tmpfs the test mounts (it runs as
//! root; without the privilege it fails and says so). The disk is filled by a filler
//! file while a client posts: ingest answers 503 with Retry-After and readiness turns
//! 503; once the filler is removed the collector recovers by itself (no restart). After
//! three episodes every acknowledged event is in the feed exactly once, no event of a
//! refused request is (a request is stored all or nothing), and a restart on the same
//! data dir works.

mod api_support;

use std::{
    collections::HashSet,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use api_support::*;
use cairn_testkit::{temp_dir, CollectorProcess};
use serde_json::json;

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Self {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs and needs root (mount -t tmpfs)"
        );
        Self(dir.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem with `filler` until the disk refuses, leaving `leave` bytes.
fn fill(filler: &Path, leave: usize) {
    let mut file = std::fs::File::create(filler).unwrap();
    let chunk = vec![7u8; 4096];
    let mut written = 0usize;
    while file.write_all(&chunk).is_ok() {
        written += chunk.len();
    }
    let _ = file.set_len(written.saturating_sub(leave) as u64);
    file.sync_all().unwrap();
}

fn batch(tag: &str, n: usize) -> serde_json::Value {
    let events: Vec<_> = (0..n)
        .map(|i| {
            json!({"type": "track", "event": "Viewed", "anonymousId": format!("a-{tag}"),
                        "messageId": format!("{tag}-{i}"),
                        "properties": {"pad": "x".repeat(300)}})
        })
        .collect();
    json!({ "batch": events })
}

fn await_ready(c: &CollectorProcess, ready: bool) -> Duration {
    let started = Instant::now();
    loop {
        let status = get(c, "/readyz", None).status;
        if (status == 200) == ready {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "readyz stayed {status}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_full_disk_answers_503_and_recovers_without_a_restart() {
    let root = temp_dir("disk-full");
    let mnt = root.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let _mount = Mount::tmpfs(&mnt, "24m");
    let data = mnt.join("data");
    let filler = mnt.join("filler");
    let mut c = CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), &data, &[]);
    let mut acknowledged = HashSet::new();
    let mut refused = HashSet::new();
    let mut batches = 0;
    for episode in 0..3 {
        for i in 0..5 {
            let tag = format!("before-{episode}-{i}");
            let reply = post_json(&c, "/v1/batch", &batch(&tag, 50));
            assert_eq!(reply.status, 200, "{}", reply.text);
            acknowledged.insert(tag);
        }
        fill(&filler, 200 * 1024);
        let mut full = None;
        for i in 0..1000 {
            let tag = format!("during-{episode}-{i}");
            let reply = post_json(&c, "/v1/batch", &batch(&tag, 50));
            batches += 1;
            match reply.status {
                200 => {
                    acknowledged.insert(tag);
                }
                503 => {
                    assert_eq!(reply.error(), "storage_unavailable", "{}", reply.text);
                    assert!(reply.header("retry-after").is_some(), "Retry-After");
                    refused.insert(tag);
                    full = Some(i);
                    break;
                }
                other => panic!("episode {episode}: {other} {}", reply.text),
            }
        }
        assert!(full.is_some(), "the disk never filled");
        // Full: everything is refused and readiness says so.
        let reply = post_json(&c, "/v1/batch", &batch(&format!("full-{episode}"), 50));
        assert_eq!(reply.status, 503, "{}", reply.text);
        refused.insert(format!("full-{episode}"));
        await_ready(&c, false);
        std::fs::remove_file(&filler).unwrap();
        let took = await_ready(&c, true);
        println!("episode {episode}: full after {full:?} batches, ready again {took:?} after space returned");
        let tag = format!("after-{episode}");
        let reply = post_json(&c, "/v1/batch", &batch(&tag, 50));
        assert_eq!(reply.status, 200, "{}", reply.text);
        acknowledged.insert(tag);
    }
    let check = |c: &CollectorProcess| {
        let keys = feed_keys(c);
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "each event once");
        for tag in &acknowledged {
            for i in 0..50 {
                assert!(
                    unique.contains(&format!("{tag}-{i}")),
                    "{tag}-{i} acknowledged"
                );
            }
        }
        for tag in &refused {
            let stored = (0..50)
                .filter(|i| unique.contains(&format!("{tag}-{i}")))
                .count();
            assert_eq!(stored, 0, "{tag} was refused: none of its events stored");
        }
        keys.len()
    };
    let stored = check(&c);
    c.restart();
    assert_eq!(check(&c), stored, "the same after a restart");
    println!(
        "{batches} batches while filling; {stored} events stored, {} requests refused",
        refused.len()
    );
}

#[test]
fn a_vanished_data_dir_is_refused_not_acknowledged() {
    let c = start("disk-vanished", &[]);
    assert_eq!(post_json(&c, "/v1/batch", &batch("kept", 5)).status, 200);
    std::fs::remove_dir_all(&c.data_dir).unwrap();
    let reply = post_json(&c, "/v1/batch", &batch("lost", 5));
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.error(), "storage_unavailable");
    assert!(reply.text.contains("vanished"), "{}", reply.text);
    assert_eq!(get(&c, "/readyz", None).status, 503);
}
