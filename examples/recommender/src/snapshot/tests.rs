//! The store on real files: round trip, only dirty shards rewritten, redaction, a cut
//! abandoned by a forget, leftovers of a crash deleted at start.

use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::model::{Model, Profile};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cairn-reco-unit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn files(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn holding(d: &Path, needle: &str) -> Vec<String> {
    files(d)
        .into_iter()
        .filter(|f| {
            let bytes = fs::read(d.join(f)).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

fn model_with(people: &[&str]) -> Model {
    let mut m = Model::new(1000.0, 0);
    for p in people {
        m.profiles.slot(p).sessions = 1;
        m.links.insert(format!("anon-of-{p}"), (*p).to_owned());
    }
    m.items.slot("sku-1").pop = 2.0;
    m.cursor = 7;
    m.last_fingerprint = 42;
    m.agg.totals.events = 7;
    m
}

#[test]
fn a_cut_round_trips_and_only_dirty_shards_are_rewritten() {
    let d = dir("roundtrip");
    let (mut store, loaded) = Store::open(&d, 1000.0).unwrap();
    assert!(loaded.is_none());
    let mut m = model_with(&["alice", "bob", "carol"]);
    let offsets = BTreeMap::from([("t:0".to_owned(), 5)]);
    m.offsets = offsets.clone();
    assert!(m.seen.first_time(11, 10));
    assert!(store.write(Cut::take(&mut m, 0), || false).unwrap());
    let first = files(&d);
    // One person changes: one people shard and the manifest are rewritten.
    m.profiles.slot("bob").sessions = 2;
    m.cursor = 8;
    let cut = Cut::take(&mut m, 0);
    assert_eq!((cut.people.len(), cut.items.len()), (1, 0));
    assert!(store.write(cut, || false).unwrap());
    let second = files(&d);
    assert_eq!(first.len(), second.len(), "the replaced file is deleted");
    assert_eq!(
        first.iter().filter(|f| !second.contains(f)).count(),
        1,
        "only bob's shard file is replaced (the manifest keeps its name): {first:?} {second:?}"
    );
    drop(store);
    let (_, loaded) = Store::open(&d, 1000.0).unwrap();
    let l = loaded.unwrap();
    assert_eq!(l.model.offsets, offsets);
    assert_eq!(l.model.seen.list(), vec![11]);
    assert_eq!(l.model.cursor, 8);
    assert_eq!(l.model.last_fingerprint, 42);
    assert_eq!(l.model.agg.totals.events, 7);
    assert_eq!(l.model.profiles["bob"].sessions, 2);
    assert_eq!(l.model.profiles.len(), 3);
    assert_eq!(l.model.links["anon-of-alice"], "alice");
    assert_eq!(l.model.items["sku-1"].pop, 2.0);
    // Another half-life: rebuilt from the feed, every file deleted.
    let (_, loaded) = Store::open(&d, 2000.0).unwrap();
    assert!(loaded.is_none());
    assert!(files(&d).is_empty(), "{:?}", files(&d));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn redaction_and_an_abandoned_cut_leave_nothing_of_the_person() {
    let d = dir("redact");
    let (mut store, _) = Store::open(&d, 1000.0).unwrap();
    let mut m = model_with(&["alice", "bob"]);
    assert!(store.write(Cut::take(&mut m, 0), || false).unwrap());
    assert!(!holding(&d, "alice").is_empty(), "positive control");
    // A cut taken before the forget is abandoned and writes nothing.
    m.profiles.slot("alice").sessions = 3;
    m.cursor = 9;
    let cut = Cut::take(&mut m, 0);
    assert!(!store.write(cut, || true).unwrap());
    let gone: HashSet<String> = ["alice".to_owned(), "anon-of-alice".to_owned()].into();
    store.redact(&gone).unwrap();
    assert!(
        holding(&d, "alice").is_empty(),
        "{:?}",
        holding(&d, "alice")
    );
    drop(store);
    let (_, loaded) = Store::open(&d, 1000.0).unwrap();
    let l = loaded.unwrap();
    assert_eq!(l.model.cursor, 7, "redaction keeps the manifest's cursor");
    assert!(!l.model.profiles.contains_key("alice"));
    assert!(l.model.profiles.contains_key("bob"));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn leftovers_of_a_crash_and_the_old_format_are_deleted_at_start() {
    let d = dir("leftovers");
    let (mut store, _) = Store::open(&d, 1000.0).unwrap();
    let mut m = model_with(&["alice"]);
    assert!(store.write(Cut::take(&mut m, 0), || false).unwrap());
    let committed = files(&d);
    // A crash mid-snapshot: a shard file of the next seq and a manifest.tmp; and the
    // single file of format 1.
    for f in ["people-001.99.json", "manifest.json.tmp", "state.json"] {
        fs::write(d.join(f), "alice").unwrap();
    }
    fs::write(d.join("unrelated.txt"), "kept").unwrap();
    drop(store);
    let (_, loaded) = Store::open(&d, 1000.0).unwrap();
    assert!(loaded.unwrap().model.profiles.contains_key("alice"));
    let mut expected = committed.clone();
    expected.push("unrelated.txt".into());
    expected.sort();
    assert_eq!(files(&d), expected);
    let _ = Profile::default();
    fs::remove_dir_all(&d).unwrap();
}
