//! The state on disk: a small manifest and one file per shard of people (profiles and
//! links) and of products, each written whole; a snapshot rewrites only the shards that
//! changed since the previous one.
//!
//! Why files and not a key-value store such as sled: the state is derived (it can always
//! be rebuilt by reading the feed from cursor 0), so it needs no per-write durability,
//! only a consistent (model, cursor) pair; and a deletion must leave nothing of the
//! person in any file. A log-structured store keeps removed values in old segments until
//! it happens to reclaim them; a shard file is replaced whole, and the replaced file is
//! deleted, so once that lands the forgotten person is in no file of the data dir.
//!
//! Layout of `<data-dir>`:
//! - `manifest.json`: format, snapshot number `seq`, the cursor (and the fingerprint of
//!   the record at it), half-life and epoch, the aggregates (totals, events per minute,
//!   experiment counts: small), and for every shard the `seq` of the file that holds it
//!   (0: empty, no file);
//! - `people-III.SEQ.json` (profiles and links of shard III), `items-II.SEQ.json`.
//!
//! Rules:
//! - the manifest is the commit point: shard files of snapshot `seq` are written and
//!   fsynced first, then the manifest (temporary file, fsync, rename, fsync of the dir),
//!   then the files it no longer names are deleted. A crash at any point leaves the
//!   previous manifest and the files it names; files it does not name are deleted at the
//!   next start. So the state loaded is always the model at exactly the manifest's cursor;
//! - the writer encodes a [`Cut`]: shared copies (`Arc`s) of the dirty shards taken in
//!   microseconds under the model's lock, encoded and written with no lock held, on a
//!   thread of lower priority, while the follower goes on applying (a shard it touches
//!   meanwhile is copied on write, see [`crate::model::shards`]); requests never wait
//!   for a snapshot;
//! - a deletion or revocation is written at once by redaction: each shard file holding
//!   one of the forgotten identities is read, the identities removed, and written as a
//!   new file under the same cursor (the manifest's state minus the person; replaying
//!   the feed after that cursor forgets them again), then the old file is deleted. A cut
//!   in flight when a person is forgotten is abandoned (its files deleted, its shards
//!   marked dirty again), so no file written after the deletion holds them;
//! - a manifest of another format or half-life, or a shard file missing or unreadable,
//!   means the model is rebuilt from the feed: every file of the layout (and the
//!   `state.json` of the previous format) is deleted first.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Instant,
};

use serde::{Deserialize, Serialize};

use crate::{
    model::{
        shards::{Shard, Shards},
        Aggregates, Item, Model, Profile, ITEM_SHARDS, PEOPLE_SHARDS,
    },
    RecoError,
};

const MANIFEST: &str = "manifest.json";
/// The single-file snapshot of format 1, deleted when found.
const OLD_STATE: &str = "state.json";
const FORMAT: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Manifest {
    format: u32,
    seq: u64,
    cursor: u64,
    last_fingerprint: u64,
    half_life_ms: f64,
    epoch_ms: i64,
    /// A reader's own position besides the cursor (the Kafka consumer's offsets).
    #[serde(default)]
    offsets: BTreeMap<String, i64>,
    /// The Kafka consumer's dedup window (hashes of message ids, oldest first).
    #[serde(default)]
    seen: Vec<u64>,
    people: Vec<u64>,
    items: Vec<u64>,
    agg: Aggregates,
}

impl Manifest {
    fn empty(half_life_ms: f64) -> Self {
        Self {
            format: FORMAT,
            seq: 0,
            cursor: 0,
            last_fingerprint: 0,
            half_life_ms,
            epoch_ms: 0,
            offsets: BTreeMap::new(),
            seen: Vec::new(),
            people: vec![0; PEOPLE_SHARDS],
            items: vec![0; ITEM_SHARDS],
            agg: Aggregates::default(),
        }
    }
}

#[derive(Serialize)]
struct PeopleOut<'a> {
    profiles: &'a Shard<Profile>,
    links: &'a Shard<String>,
}

#[derive(Deserialize, Default)]
struct PeopleIn {
    profiles: Shard<Profile>,
    links: Shard<String>,
}

fn people_file(i: usize, seq: u64) -> String {
    format!("people-{i:03}.{seq}.json")
}

fn items_file(i: usize, seq: u64) -> String {
    format!("items-{i:02}.{seq}.json")
}

/// Whether `name` is a file of the layout (and so may be deleted as a leftover).
fn ours(name: &str) -> bool {
    name == MANIFEST
        || name == OLD_STATE
        || name.ends_with(".tmp")
        || ((name.starts_with("people-") || name.starts_with("items-")) && name.ends_with(".json"))
}

/// A people shard as a cut holds it: index, profiles, links.
type PeopleShard = (usize, Arc<Shard<Profile>>, Arc<Shard<String>>);

/// What a snapshot writes: the model's small part and shared copies of its dirty shards.
pub struct Cut {
    cursor: u64,
    last_fingerprint: u64,
    half_life_ms: f64,
    epoch_ms: i64,
    offsets: BTreeMap<String, i64>,
    seen: Vec<u64>,
    agg: Aggregates,
    people: Vec<PeopleShard>,
    items: Vec<(usize, Arc<Shard<Item>>)>,
    /// [`WriterStatus::forgets`] when the cut was taken: a later forget abandons it.
    forgets: u64,
}

impl Cut {
    /// Takes the dirty shards of `model` (clears their marks). Microseconds: it clones
    /// `Arc`s and the small aggregates (and the Kafka reader's offsets and window).
    pub fn take(model: &mut Model, forgets: u64) -> Self {
        let mut people: Vec<usize> = model
            .profiles
            .take_dirty()
            .into_iter()
            .map(|(i, _)| i)
            .chain(model.links.take_dirty().into_iter().map(|(i, _)| i))
            .collect();
        people.sort_unstable();
        people.dedup();
        Self {
            cursor: model.cursor,
            last_fingerprint: model.last_fingerprint,
            half_life_ms: model.half_life_ms,
            epoch_ms: model.epoch_ms,
            offsets: model.offsets.clone(),
            seen: model.seen.list(),
            agg: model.agg.clone(),
            people: people
                .into_iter()
                .map(|i| (i, model.profiles.shard(i), model.links.shard(i)))
                .collect(),
            items: model.items.take_dirty(),
            forgets,
        }
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    pub fn offsets(&self) -> &BTreeMap<String, i64> {
        &self.offsets
    }
}

/// The loaded state.
pub struct Loaded {
    pub model: Model,
}

/// The data dir and its committed manifest. Only the writer thread uses it after start.
pub struct Store {
    dir: PathBuf,
    manifest: Manifest,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `dir/name` and fsyncs it (a new name: no rename needed, the
/// manifest commits it).
fn write_synced(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RecoError> {
    let mut f = fs::File::create(dir.join(name))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

impl Store {
    /// Opens `dir` and loads its state, if there is a usable one. Leftovers (files the
    /// manifest does not name) are deleted.
    pub fn open(dir: &Path, half_life_ms: f64) -> Result<(Self, Option<Loaded>), RecoError> {
        fs::create_dir_all(dir)?;
        let mut store = Self {
            dir: dir.to_owned(),
            manifest: Manifest::empty(half_life_ms),
        };
        let loaded = match store.load(half_life_ms) {
            Ok(Some((manifest, loaded))) => {
                store.manifest = manifest;
                Some(loaded)
            }
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(%why, "unusable snapshot: rebuilding from the feed");
                None
            }
        };
        store.remove_unnamed()?;
        Ok((store, loaded))
    }

    fn load(&self, half_life_ms: f64) -> Result<Option<(Manifest, Loaded)>, String> {
        let path = self.dir.join(MANIFEST);
        if !path.exists() {
            return Ok(None);
        }
        let m: Manifest = read_json(&path)?;
        if m.format != FORMAT || m.half_life_ms != half_life_ms {
            return Err("another format or half-life".into());
        }
        if m.people.len() != PEOPLE_SHARDS || m.items.len() != ITEM_SHARDS {
            return Err("another shard count".into());
        }
        let mut profiles = Vec::with_capacity(PEOPLE_SHARDS);
        let mut links = Vec::with_capacity(PEOPLE_SHARDS);
        for (i, seq) in m.people.iter().enumerate() {
            let p: PeopleIn = match seq {
                0 => PeopleIn::default(),
                s => read_json(&self.dir.join(people_file(i, *s)))?,
            };
            profiles.push(p.profiles);
            links.push(p.links);
        }
        let mut items = Vec::with_capacity(ITEM_SHARDS);
        for (i, seq) in m.items.iter().enumerate() {
            items.push(match seq {
                0 => HashMap::new(),
                s => read_json(&self.dir.join(items_file(i, *s)))?,
            });
        }
        let model = Model {
            cursor: m.cursor,
            last_fingerprint: m.last_fingerprint,
            half_life_ms: m.half_life_ms,
            epoch_ms: m.epoch_ms,
            profiles: Shards::from_shards(profiles),
            links: Shards::from_shards(links),
            items: Shards::from_shards(items),
            agg: m.agg.clone(),
            offsets: m.offsets.clone(),
            seen: crate::model::Seen::from_list(m.seen.clone()),
            ..Model::default()
        };
        Ok(Some((m, Loaded { model })))
    }

    /// The files the manifest names.
    fn named(&self) -> HashSet<String> {
        let m = &self.manifest;
        let mut out: HashSet<String> = HashSet::from([MANIFEST.to_owned()]);
        if m.seq == 0 {
            out.clear();
        }
        for (i, s) in m.people.iter().enumerate().filter(|(_, s)| **s != 0) {
            out.insert(people_file(i, *s));
        }
        for (i, s) in m.items.iter().enumerate().filter(|(_, s)| **s != 0) {
            out.insert(items_file(i, *s));
        }
        out
    }

    /// Deletes every file of the layout that the manifest does not name.
    fn remove_unnamed(&self) -> Result<(), RecoError> {
        let named = self.named();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if ours(&name) && !named.contains(&name) {
                fs::remove_file(self.dir.join(&name))?;
            }
        }
        Ok(())
    }

    fn commit(&mut self, next: Manifest) -> Result<(), RecoError> {
        let tmp = format!("{MANIFEST}.tmp");
        let bytes = serde_json::to_vec(&next).expect("the manifest serialises");
        write_synced(&self.dir, &tmp, &bytes)?;
        fs::rename(self.dir.join(&tmp), self.dir.join(MANIFEST))?;
        fs::File::open(&self.dir)?.sync_all()?;
        let before = self.named();
        self.manifest = next;
        let after = self.named();
        for old in before.difference(&after) {
            match fs::remove_file(self.dir.join(old)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes a cut; `abandon` is asked between shards. Returns whether it committed.
    /// Each shard's copy is dropped once written, so the follower copies on write only
    /// the shards it touches before they are written.
    pub fn write(&mut self, cut: Cut, abandon: impl Fn() -> bool) -> Result<bool, RecoError> {
        let seq = self.manifest.seq + 1;
        let mut next = Manifest {
            format: FORMAT,
            seq,
            cursor: cut.cursor,
            last_fingerprint: cut.last_fingerprint,
            half_life_ms: cut.half_life_ms,
            epoch_ms: cut.epoch_ms,
            offsets: cut.offsets.clone(),
            seen: cut.seen.clone(),
            people: self.manifest.people.clone(),
            items: self.manifest.items.clone(),
            agg: cut.agg.clone(),
        };
        let mut written = Vec::new();
        let result = (|| {
            let mut buf = Vec::new();
            for (i, profiles, links) in cut.people {
                if abandon() {
                    return Ok(false);
                }
                next.people[i] = if profiles.is_empty() && links.is_empty() {
                    0
                } else {
                    buf.clear();
                    serde_json::to_writer(
                        &mut buf,
                        &PeopleOut {
                            profiles: &profiles,
                            links: &links,
                        },
                    )
                    .expect("a shard serialises");
                    let name = people_file(i, seq);
                    written.push(name.clone());
                    write_synced(&self.dir, &name, &buf)?;
                    seq
                };
            }
            for (i, items) in cut.items {
                if abandon() {
                    return Ok(false);
                }
                next.items[i] = if items.is_empty() {
                    0
                } else {
                    buf.clear();
                    serde_json::to_writer(&mut buf, &*items).expect("a shard serialises");
                    let name = items_file(i, seq);
                    written.push(name.clone());
                    write_synced(&self.dir, &name, &buf)?;
                    seq
                };
            }
            if abandon() {
                return Ok(false);
            }
            self.commit(next)?;
            Ok(true)
        })();
        if !matches!(result, Ok(true)) {
            for name in written {
                let _ = fs::remove_file(self.dir.join(name));
            }
        }
        result
    }

    /// Removes `gone` from every shard file that may hold them, under the same cursor.
    pub fn redact(&mut self, gone: &HashSet<String>) -> Result<(), RecoError> {
        let shards: std::collections::BTreeSet<usize> = gone
            .iter()
            .map(|id| crate::model::shards::shard_of(id, PEOPLE_SHARDS))
            .collect();
        let seq = self.manifest.seq + 1;
        let mut next = Manifest {
            seq,
            ..self.manifest.clone()
        };
        let mut changed = false;
        for i in shards {
            let old = self.manifest.people[i];
            if old == 0 {
                continue;
            }
            let mut p: PeopleIn =
                read_json(&self.dir.join(people_file(i, old))).map_err(RecoError::Internal)?;
            let before = p.profiles.len() + p.links.len();
            p.profiles.retain(|id, _| !gone.contains(id));
            p.links
                .retain(|anon, user| !gone.contains(anon) && !gone.contains(user.as_str()));
            if p.profiles.len() + p.links.len() == before {
                continue;
            }
            changed = true;
            next.people[i] = if p.profiles.is_empty() && p.links.is_empty() {
                0
            } else {
                let bytes = serde_json::to_vec(&PeopleOut {
                    profiles: &p.profiles,
                    links: &p.links,
                })
                .expect("a shard serialises");
                write_synced(&self.dir, &people_file(i, seq), &bytes)?;
                seq
            };
        }
        if changed {
            self.commit(next)?;
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What the writer thread reports (and the follower reads).
#[derive(Default)]
pub struct WriterStatus {
    /// A cut is queued or being written: the follower takes no second one.
    pub busy: AtomicBool,
    /// Forgets seen so far: a cut taken before the latest one is abandoned.
    pub forgets: AtomicU64,
    /// Shards of an abandoned cut, to be marked dirty again (people, items).
    pub remark: Mutex<(Vec<usize>, Vec<usize>)>,
    /// CPU time of the last committed cut, in microseconds (the next interval is
    /// thirty times that, so snapshots take at most ~3% of a core).
    pub last_cpu_us: AtomicU64,
    pub last_wall_us: AtomicU64,
    pub cursor: AtomicU64,
    pub written: AtomicU64,
    pub abandoned: AtomicU64,
    pub redactions: AtomicU64,
    pub shards_written: AtomicU64,
    pub cpu_us: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

enum Job {
    Cut(Box<Cut>),
    Redact(HashSet<String>),
    /// Answers once every job before it is done.
    Drain(mpsc::Sender<()>),
}

/// The snapshot writer: one thread of lower priority doing every disk write in order.
pub struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub status: Arc<WriterStatus>,
}

/// CPU time of the calling thread.
fn thread_cpu() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
    }
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Nice 10 for the calling thread (Linux schedules threads by their own nice value), so
/// on a busy machine requests and the follower get the CPU first.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (who = 0) has no memory effects.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

impl Writer {
    pub fn start(mut store: Store) -> Self {
        let status = Arc::new(WriterStatus::default());
        status
            .cursor
            .store(store.manifest.cursor, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Job>();
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("cairn-reco-snapshot".into())
            .spawn(move || {
                lower_priority();
                for job in rx {
                    let fail = |e: RecoError| {
                        tracing::error!(error = %e, "snapshot write failed");
                        *st.last_error.lock().expect("lock") = Some(e.to_string());
                    };
                    match job {
                        Job::Cut(cut) => {
                            let (cpu, wall) = (thread_cpu(), Instant::now());
                            let forgets = cut.forgets;
                            let cursor = cut.cursor;
                            let people: Vec<usize> = cut.people.iter().map(|p| p.0).collect();
                            let items: Vec<usize> = cut.items.iter().map(|p| p.0).collect();
                            let abandon = || st.forgets.load(Ordering::SeqCst) != forgets;
                            match store.write(*cut, abandon) {
                                Ok(true) => {
                                    let used = (thread_cpu() - cpu).as_micros() as u64;
                                    st.last_cpu_us.store(used, Ordering::Relaxed);
                                    st.cpu_us.fetch_add(used, Ordering::Relaxed);
                                    st.last_wall_us.store(
                                        wall.elapsed().as_micros() as u64,
                                        Ordering::Relaxed,
                                    );
                                    st.cursor.store(cursor, Ordering::Relaxed);
                                    st.written.fetch_add(1, Ordering::Relaxed);
                                    st.shards_written.fetch_add(
                                        (people.len() + items.len()) as u64,
                                        Ordering::Relaxed,
                                    );
                                }
                                other => {
                                    if let Err(e) = other {
                                        fail(e);
                                    } else {
                                        st.abandoned.fetch_add(1, Ordering::Relaxed);
                                    }
                                    let mut r = st.remark.lock().expect("lock");
                                    r.0.extend(people);
                                    r.1.extend(items);
                                }
                            }
                            st.busy.store(false, Ordering::SeqCst);
                        }
                        Job::Drain(done) => {
                            let _ = done.send(());
                        }
                        Job::Redact(gone) => match store.redact(&gone) {
                            Ok(()) => {
                                st.redactions.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => fail(e),
                        },
                    }
                }
            })
            .expect("spawn the snapshot thread");
        Self {
            tx: Some(tx),
            thread: Some(thread),
            status,
        }
    }

    /// Queues a cut (the caller checked `busy` is false).
    pub fn write(&self, cut: Cut) {
        self.status.busy.store(true, Ordering::SeqCst);
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Cut(Box::new(cut)));
        }
    }

    /// Forgets `gone` on disk at once: a cut in flight is abandoned, files redacted.
    pub fn forget(&self, gone: Vec<String>) {
        self.status.forgets.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Redact(gone.into_iter().collect()));
        }
    }

    /// Waits until every job queued so far is done (blocking).
    pub fn drain(&self) {
        let (done, wait) = mpsc::channel();
        if let Some(tx) = &self.tx {
            if tx.send(Job::Drain(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    /// Finishes every queued job and stops the thread (blocking).
    pub fn finish(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Every byte the model would write, for tests that look for a person in it.
#[cfg(test)]
pub fn encode_all(model: &Model) -> Vec<u8> {
    let mut out = serde_json::to_vec(&model.agg).expect("serialises");
    for i in 0..PEOPLE_SHARDS {
        let (p, l) = (model.profiles.shard(i), model.links.shard(i));
        out.extend(
            serde_json::to_vec(&PeopleOut {
                profiles: &p,
                links: &l,
            })
            .expect("ser"),
        );
    }
    for i in 0..ITEM_SHARDS {
        out.extend(serde_json::to_vec(&*model.items.shard(i)).expect("serialises"));
    }
    out
}

#[cfg(test)]
mod tests;
