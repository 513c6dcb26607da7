//! The default engine on real files: append, read, dedup across reopen, torn tails,
//! deletion, and a deletion interrupted by a crash.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use super::{DeleteUser, EventStore, LinkPolicy, LogStore, NewEvent, Outcome};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cairn-store-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn event(id: &str, user: u8, anon: u8, link: bool) -> NewEvent {
    NewEvent {
        dedup_key: format!("wk{id}").into_bytes(),
        message_id: id.into(),
        source: "test".into(),
        user: (user != 0).then_some([user; 32]),
        anonymous: Some([anon; 32]),
        links: if link {
            vec![([user; 32], [anon; 32])]
        } else {
            vec![]
        },
        json: format!(r#"{{"messageId":"{id}","secret":"raw-{id}"}}"#).into_bytes(),
        received_ms: 1,
    }
}

fn keys(store: &LogStore) -> Vec<String> {
    store
        .read(0, 1000, usize::MAX)
        .unwrap()
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            format!(
                "{}:{}",
                v["kind"].as_str().unwrap(),
                v["key"].as_str().unwrap()
            )
        })
        .collect()
}

fn log_bytes(d: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in fs::read_dir(d.join("log")).unwrap() {
        all.extend(fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

#[test]
fn appends_reads_and_deduplicates_across_reopen() {
    let d = dir("dedup");
    {
        let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
        let out = store
            .append(&[
                event("a", 1, 2, false),
                event("b", 1, 2, false),
                event("a", 1, 2, false),
            ])
            .unwrap();
        assert_eq!(
            out,
            vec![
                Outcome::Stored { cursor: 1 },
                Outcome::Stored { cursor: 2 },
                Outcome::Duplicate
            ]
        );
        assert_eq!(store.read(1, 10, usize::MAX).unwrap().len(), 1);
    }
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert_eq!(store.last_cursor(), 2);
    let out = store
        .append(&[event("b", 1, 2, false), event("c", 1, 2, false)])
        .unwrap();
    assert_eq!(out, vec![Outcome::Duplicate, Outcome::Stored { cursor: 3 }]);
    assert_eq!(keys(&store), ["event:a", "event:b", "event:c"]);
    assert_eq!(store.expire_dedup(2).unwrap(), 3);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn torn_tail_is_truncated_and_its_seq_reused() {
    let d = dir("torn");
    {
        let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
        store.append(&[event("a", 1, 2, false)]).unwrap();
    }
    let segment = fs::read_dir(d.join("log"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let whole = fs::metadata(&segment).unwrap().len();
    fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2, 3])
        .unwrap();
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert_eq!(fs::metadata(&segment).unwrap().len(), whole);
    assert_eq!(
        store.append(&[event("b", 1, 2, false)]).unwrap(),
        vec![Outcome::Stored { cursor: 2 }]
    );
    assert_eq!(keys(&store), ["event:a", "event:b"]);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn deletion_zeroes_linked_events_and_appends_a_tombstone() {
    let d = dir("delete");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    // user 1 is tied to anonymous id 2; user 3 / anon 4 is someone else, and so is
    // user 5, who used the same device (anonymous id 2) after logging in.
    store
        .append(&[
            event("u1", 1, 2, true),
            event("anon", 0, 2, false),
            event("other", 3, 4, false),
            event("shared", 5, 2, false),
        ])
        .unwrap();
    let deletion = store
        .delete_user(&DeleteUser {
            identity: [1; 32],
            stored_user_id: "h1".into(),
            deleted_at: "t".into(),
        })
        .unwrap();
    assert_eq!(deletion.deleted_events, 2);
    assert_eq!(deletion.tombstone_cursor, 5);
    assert_eq!(
        keys(&store),
        ["event:other", "event:shared", "tombstone:h1"]
    );
    let bytes = log_bytes(&d);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("raw-u1") && !text.contains("raw-anon"),
        "deleted bytes remain"
    );
    assert!(text.contains("raw-other") && text.contains("raw-shared"));
    drop(store);
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert_eq!(
        keys(&store),
        ["event:other", "event:shared", "tombstone:h1"]
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_deletion_cut_short_is_finished_at_open() {
    let d = dir("cut");
    {
        let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
        store
            .append(&[event("gone", 1, 2, false), event("kept", 3, 4, false)])
            .unwrap();
    }
    // Simulate a crash after the tombstone was durable but before the zeroing.
    let tombstone_log = {
        let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
        store
            .delete_user(&DeleteUser {
                identity: [1; 32],
                stored_user_id: "h1".into(),
                deleted_at: "t".into(),
            })
            .unwrap();
        drop(store);
        log_bytes(&d)
    };
    assert!(!String::from_utf8_lossy(&tombstone_log).contains("raw-gone"));
    // Rebuild: the original event frame written back as it was before the zeroing.
    let d2 = dir("cut-replay");
    {
        let store = LogStore::open(&d2, 0, LinkPolicy::default()).unwrap();
        store
            .append(&[event("gone", 1, 2, false), event("kept", 3, 4, false)])
            .unwrap();
    }
    let seg = |d: &Path| {
        fs::read_dir(d.join("log"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    let before = fs::read(seg(&d2)).unwrap();
    let mut cut = fs::read(seg(&d)).unwrap();
    cut[..before.len()].copy_from_slice(&before);
    fs::write(seg(&d), &cut).unwrap();
    assert!(String::from_utf8_lossy(&log_bytes(&d)).contains("raw-gone"));
    // The crash came before the zeroing was recorded as durable.
    fs::remove_file(d.join("deletions-done")).unwrap();
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert!(!String::from_utf8_lossy(&log_bytes(&d)).contains("raw-gone"));
    assert_eq!(keys(&store), ["event:kept", "tombstone:h1"]);
    let _ = fs::remove_dir_all(&d);
    let _ = fs::remove_dir_all(&d2);
}

#[test]
fn adjacent_torn_frames_before_valid_ones_are_skipped_not_truncated() {
    let d = dir("adjacent");
    let mut ends = vec![0];
    {
        let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
        for id in ["a", "b", "c", "d"] {
            store.append(&[event(id, 1, 2, false)]).unwrap();
            let seg = fs::read_dir(d.join("log"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            ends.push(fs::metadata(seg).unwrap().len());
        }
    }
    // Tear frames 1 and 2 (as a power loss during a deletion's zeroing could).
    let seg = fs::read_dir(d.join("log"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&seg).unwrap();
    for frame in 0..2 {
        bytes[ends[frame + 1] as usize - 1] ^= 0xff;
    }
    fs::write(&seg, &bytes).unwrap();
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert_eq!(store.last_cursor(), 4);
    assert_eq!(keys(&store), ["event:c", "event:d"]);
    assert_eq!(fs::metadata(&seg).unwrap().len(), ends[4]);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn batch_of_a_heavy_user_deletes_with_a_small_tombstone() {
    let d = dir("heavy");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    let events: Vec<NewEvent> = (0..5000)
        .map(|i| event(&format!("e{i}"), 1, 2, false))
        .collect();
    store.append(&events).unwrap();
    let deletion = store
        .delete_user(&DeleteUser {
            identity: [1; 32],
            stored_user_id: "h1".into(),
            deleted_at: "t".into(),
        })
        .unwrap();
    assert_eq!(deletion.deleted_events, 5000);
    store.append(&[event("after", 3, 4, false)]).unwrap();
    drop(store);
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert_eq!(keys(&store), ["tombstone:h1", "event:after"]);
    let tombstone = store.read(5000, 1, usize::MAX).unwrap();
    assert!(
        tombstone[0].len() < 1024,
        "tombstone grows with the events it deleted"
    );
    let _ = fs::remove_dir_all(&d);
}

fn request(user: u8) -> DeleteUser {
    DeleteUser {
        identity: [user; 32],
        stored_user_id: format!("h{user}"),
        deleted_at: "t".into(),
    }
}

#[test]
fn events_appended_between_the_two_phases_are_deleted_too() {
    let d = dir("phases");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store
        .append(&[
            event("a", 1, 2, true),
            event("b", 1, 2, false),
            event("c", 0, 2, false),
            event("other", 3, 4, false),
        ])
        .unwrap();
    let found = store.find_user_events([1; 32]).unwrap();
    assert_eq!(found.len(), 3);
    // Ingest goes on while the writer has not reached the deletion yet.
    store
        .append(&[
            event("d", 1, 2, false),
            event("e", 0, 2, false),
            event("other2", 3, 4, false),
        ])
        .unwrap();
    let deletion = finish(&store, found);
    assert_eq!(deletion.deleted_events, 5);
    assert_eq!(deletion.tombstone_cursor, 8);
    assert_eq!(
        keys(&store),
        ["event:other", "event:other2", "tombstone:h1"]
    );
    let text = String::from_utf8_lossy(&log_bytes(&d)).into_owned();
    for gone in ["raw-a", "raw-b", "raw-c", "raw-d", "raw-e"] {
        assert!(!text.contains(gone), "{gone} remains");
    }
    drop(store);
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    assert_eq!(
        keys(&store),
        ["event:other", "event:other2", "tombstone:h1"]
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn an_anonymous_id_linked_between_the_two_phases_is_deleted_too() {
    let d = dir("phases-link");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store
        .append(&[
            event("a", 1, 2, true),
            event("b", 1, 2, false),
            // A second device, not yet tied to user 1.
            event("before", 0, 7, false),
            event("other", 3, 4, false),
        ])
        .unwrap();
    let found = store.find_user_events([1; 32]).unwrap();
    assert_eq!(found.len(), 2);
    // The user logs in on the second device: identify ties anonymous id 7 to user 1.
    store
        .append(&[event("identify", 1, 7, true), event("after", 0, 7, false)])
        .unwrap();
    let deletion = finish(&store, found);
    assert_eq!(deletion.deleted_events, 5);
    assert_eq!(keys(&store), ["event:other", "tombstone:h1"]);
    let text = String::from_utf8_lossy(&log_bytes(&d)).into_owned();
    for gone in ["raw-a", "raw-b", "raw-before", "raw-identify", "raw-after"] {
        assert!(!text.contains(gone), "{gone} remains");
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn events_zeroed_by_another_deletion_between_the_phases_are_not_counted() {
    let d = dir("phases-race");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store
        .append(&[
            event("a", 1, 2, true),
            event("anon", 0, 2, false),
            event("other", 3, 4, false),
        ])
        .unwrap();
    let found = store.find_user_events([1; 32]).unwrap();
    assert_eq!(found.len(), 2);
    // Another deletion, whose identities include anonymous id 2, finishes first.
    assert_eq!(store.delete_user(&request(2)).unwrap().deleted_events, 1);
    let deletion = finish(&store, found);
    assert_eq!(deletion.deleted_events, 1);
    assert_eq!(
        keys(&store),
        ["event:other", "tombstone:h2", "tombstone:h1"]
    );
    let _ = fs::remove_dir_all(&d);
}

fn finish(store: &LogStore, found: super::FoundEvents) -> super::Deletion {
    let pending = store.delete_found(&request(1), found).unwrap();
    store.finish_deletion(pending).unwrap()
}

#[test]
fn the_feed_hides_a_deletion_before_its_zeroing_and_a_start_finishes_it() {
    let d = dir("pending");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store
        .append(&[event("a", 1, 2, true), event("other", 3, 4, false)])
        .unwrap();
    let found = store.find_user_events([1; 32]).unwrap();
    let pending = store.delete_found(&request(1), found).unwrap();
    // The user comes back after the tombstone: that event is not the deletion's.
    store.append(&[event("back", 1, 2, false)]).unwrap();
    assert_eq!(keys(&store), ["event:other", "tombstone:h1", "event:back"]);
    assert!(String::from_utf8_lossy(&log_bytes(&d)).contains("raw-a"));
    // A crash here: the next start zeroes the deletion's events, and only those.
    drop(pending);
    drop(store);
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    let text = String::from_utf8_lossy(&log_bytes(&d)).into_owned();
    assert!(
        !text.contains("raw-a") && text.contains("raw-back"),
        "{text}"
    );
    assert_eq!(keys(&store), ["event:other", "tombstone:h1", "event:back"]);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_large_deletion_splits_its_tombstone() {
    let d = dir("split");
    let store = LogStore::open(&d, 0, LinkPolicy::default())
        .unwrap()
        .with_tombstone_identities(2);
    let events: Vec<NewEvent> = (10..15u8)
        .map(|anon| event(&format!("e{anon}"), 1, anon, true))
        .collect();
    store.append(&events).unwrap();
    let deletion = store.delete_user(&request(1)).unwrap();
    assert_eq!((deletion.deleted_events, deletion.tombstones), (5, 3));
    let lines = store.read(0, 100, usize::MAX).unwrap();
    let parts: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(parts.len(), 3, "only the tombstones remain");
    let ids: usize = parts
        .iter()
        .map(|p| p["value"]["identities"].as_array().unwrap().len())
        .sum();
    assert_eq!(ids, 6, "the user and five anonymous ids");
    assert_eq!(parts[2]["value"]["part"], 3);
    assert_eq!(parts[2]["value"]["parts"], 3);
    assert!(parts.iter().all(|p| p.get("source").is_none()));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn anonymous_ties_past_the_cap_are_refused_and_counted() {
    let d = dir("cap");
    let policy = LinkPolicy {
        max_anonymous_per_user: 3,
        ..LinkPolicy::default()
    };
    let refused = policy.refused.clone();
    let store = LogStore::open(&d, 0, policy).unwrap();
    let mut events: Vec<NewEvent> = (10..15u8)
        .map(|anon| event(&format!("tie{anon}"), 1, anon, true))
        .collect();
    // Anonymous events of every device: those of refused ties stay.
    events.extend((10..15u8).map(|anon| event(&format!("anon{anon}"), 0, anon, false)));
    store.append(&events).unwrap();
    let deletion = store.delete_user(&request(1)).unwrap();
    assert_eq!(deletion.deleted_events, 5 + 3);
    assert_eq!(refused.get(), 2);
    assert_eq!(
        keys(&store),
        ["event:anon13", "event:anon14", "tombstone:h1"]
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn event_records_carry_their_source() {
    let d = dir("source");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store.append(&[event("a", 1, 2, false)]).unwrap();
    let line: serde_json::Value =
        serde_json::from_slice(&store.read(0, 1, usize::MAX).unwrap()[0]).unwrap();
    assert_eq!(line["source"], "test");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_user_who_comes_back_after_a_deletion_is_deleted_again() {
    let d = dir("again");
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store
        .append(&[event("a", 1, 2, true), event("anon", 0, 2, false)])
        .unwrap();
    assert_eq!(store.delete_user(&request(1)).unwrap().deleted_events, 2);
    // The same user and device again, in the same segment: indexed afresh after the
    // tombstone dropped their entries.
    store
        .append(&[event("b", 1, 2, true), event("anon2", 0, 2, false)])
        .unwrap();
    assert_eq!(store.delete_user(&request(1)).unwrap().deleted_events, 2);
    assert_eq!(keys(&store), ["tombstone:h1", "tombstone:h1"]);
    drop(store);
    let store = LogStore::open(&d, 0, LinkPolicy::default()).unwrap();
    store.append(&[event("c", 1, 2, false)]).unwrap();
    assert_eq!(store.delete_user(&request(1)).unwrap().deleted_events, 1);
    let _ = fs::remove_dir_all(&d);
}
