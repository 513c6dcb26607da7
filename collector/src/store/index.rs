//! The identity index, for deletion: which log segments hold events of which identity,
//! and which anonymousIds and aliases identify / alias tied to a user. A user gathers
//! at most `LinkPolicy::max_anonymous_per_user` anonymous ids; later ties are not
//! indexed (the events stay) and are counted. The log decides the order, so rebuilding
//! the index from it takes the same decisions. Segment
//! granularity keeps it to one entry per identity per 64 MB segment, so indexing costs
//! almost nothing; deletion then scans just the segments listed. It lives in sled and is
//! filled from the event log by a background thread, off the acknowledgement path.
//! Everything in it can be rebuilt from the log, so it needs no fsync of its own: after
//! a crash the indexer resumes from its last recorded position. A tombstone removes the
//! entries of its identities when the indexer reaches it, so what comes after it is
//! indexed afresh, in log order.
//!
//! - `i` identity(32) segment(8 BE) -> ()
//! - `l` user(32) other(32)         -> ()
//! - `c` user(32)                   -> count(8 BE) of anonymous ids tied to the user
//! - `m` "indexed"                  -> the manifest (`Manifest`)
//!
//! Damage that still opens. sled notices torn or corrupt pages of its own, but an index
//! can also open and be wrong: a stale copy restored over it, an index of another data
//! dir, one ahead of its log, bytes flipped where sled's checks do not look. So every
//! chunk writes, in the same atomic batch as its entries, a manifest: the last seq
//! indexed, a fingerprint of that frame of the log (seq, receivedAt, dedup key: kept by
//! a deletion's zeroing), and a digest of every entry (an XOR of SHA-256 of each key and
//! value, kept up to date as entries come and go) with their count, all under a CRC.
//! `open` checks the manifest's CRC and that the log holds that frame (cheap); any
//! mismatch or read error, and the index is removed and rebuilt from the log
//! (`LogStore::open`). Then the indexer, before it resumes, reads every entry back to
//! recompute the digest (3.4-3.7 s for a million entries, release build, load 12 on 2
//! cores; the collector serves meanwhile, deletions wait for it); entries that do not
//! match are cleared and the log is indexed again from its start.
//! A stale but whole copy passes: it is an older state of this log's index, and the
//! indexer resumes from its position, deciding what it decided before.

use std::{
    collections::HashSet,
    ops::ControlFlow,
    path::Path,
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use super::{
    frame::{self, Frame, Kind},
    log::Log,
    LinkPolicy,
};
use crate::{privacy::Identity, CollectorError};

const INDEXED: &[u8] = b"mindexed";
/// How long opening waits for a previous instance to release the index.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often the index is flushed while it is being written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Frames indexed per sled batch.
const CHUNK_FRAMES: usize = 10_000;
/// Links remembered as indexed, to skip looking them up again; forgotten past this.
const SEEN_LINKS: usize = 100_000;

type Link = (Identity, Identity);

#[derive(Default)]
struct Progress {
    indexed: u64,
    target: u64,
    stop: bool,
    /// The entries were read back against the manifest's digest (`check_entries`);
    /// until then nothing is indexed and deletions wait.
    checked: bool,
    /// Damaged and not even clearable: deletions are refused until a restart rebuilds it.
    broken: bool,
}

/// Left beside the index when it must be rebuilt at the next start.
pub fn rebuild_mark(path: &Path) -> std::path::PathBuf {
    path.with_extension("rebuild")
}

/// What the index covers, written with every chunk (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Manifest {
    indexed: u64,
    /// `fingerprint` of the frame with seq `indexed` (0 when nothing is indexed).
    fingerprint: u64,
    digest: u128,
    entries: u64,
}

const MANIFEST_BYTES: usize = 8 + 8 + 16 + 8 + 4;

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_BYTES);
        out.extend_from_slice(&self.indexed.to_be_bytes());
        out.extend_from_slice(&self.fingerprint.to_be_bytes());
        out.extend_from_slice(&self.digest.to_be_bytes());
        out.extend_from_slice(&self.entries.to_be_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    fn decode(v: &[u8]) -> Option<Self> {
        if v.len() != MANIFEST_BYTES {
            return None;
        }
        let (body, crc) = v.split_at(MANIFEST_BYTES - 4);
        if crc32fast::hash(body).to_be_bytes() != crc {
            return None;
        }
        Some(Self {
            indexed: u64::from_be_bytes(body[0..8].try_into().ok()?),
            fingerprint: u64::from_be_bytes(body[8..16].try_into().ok()?),
            digest: u128::from_be_bytes(body[16..32].try_into().ok()?),
            entries: u64::from_be_bytes(body[32..40].try_into().ok()?),
        })
    }

    fn with(mut self, delta: &Delta, indexed: u64, fingerprint: u64) -> Self {
        self.digest ^= delta.digest;
        self.entries = self.entries.wrapping_add_signed(delta.entries);
        self.indexed = indexed;
        self.fingerprint = fingerprint;
        self
    }
}

/// A log frame's identity, unchanged by a deletion's zeroing.
fn fingerprint(f: &Frame) -> u64 {
    let mut h = crc32fast::Hasher::new();
    h.update(&f.seq.to_be_bytes());
    h.update(&f.received_ms.to_be_bytes());
    h.update(f.dedup);
    (u64::from(h.finalize()) << 32) | (f.received_ms & 0xffff_ffff)
}

/// One entry's share of the digest.
fn entry_hash(key: &[u8], value: &[u8]) -> u128 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(key.len() as u32).to_be_bytes());
    ctx.update(key);
    ctx.update(value);
    u128::from_be_bytes(ctx.finish().as_ref()[..16].try_into().expect("16 bytes"))
}

/// How one chunk changes the digest and the entry count.
#[derive(Default)]
struct Delta {
    digest: u128,
    entries: i64,
}

impl Delta {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        self.digest ^= entry_hash(key, value);
        self.entries += 1;
    }

    fn remove(&mut self, key: &[u8], value: &[u8]) {
        self.digest ^= entry_hash(key, value);
        self.entries -= 1;
    }
}

/// Why an index that opened cannot be trusted, as far as its manifest tells (the
/// entries are read back later, by `IdentityIndex::check_entries`).
fn verify(db: &sled::Db, log: &Log) -> Result<Manifest, String> {
    let manifest = match db.get(INDEXED).map_err(|e| e.to_string())? {
        Some(v) => Manifest::decode(&v).ok_or("its manifest is damaged or of an older format")?,
        None if db.is_empty() => return Ok(Manifest::default()),
        None => return Err("it has entries but no manifest".into()),
    };
    if manifest.indexed > 0 {
        if manifest.indexed > log.last_seq() {
            return Err(format!(
                "it covers the log up to {}, past the log's end {}",
                manifest.indexed,
                log.last_seq()
            ));
        }
        let mut found = None;
        log.read_after(manifest.indexed - 1, |f, _| {
            found = (f.seq == manifest.indexed).then(|| fingerprint(f));
            ControlFlow::Break(())
        })
        .map_err(|e| e.to_string())?;
        if found != Some(manifest.fingerprint) {
            return Err(format!(
                "the frame it covers up to ({}) is not this log's",
                manifest.indexed
            ));
        }
    }
    Ok(manifest)
}

/// Reads every entry back and compares them with the manifest's digest and count; false
/// when they differ (or cannot be read), or when `stop` says to give up.
fn entries_match(
    db: &sled::Db,
    manifest: &Manifest,
    stop: impl Fn() -> bool,
) -> Result<bool, String> {
    let (mut digest, mut entries) = (0u128, 0u64);
    for item in db.iter() {
        let (key, value) = item.map_err(|e| e.to_string())?;
        if key.first() != Some(&b'm') {
            digest ^= entry_hash(&key, &value);
            entries += 1;
            if entries % 100_000 == 0 && stop() {
                return Ok(false);
            }
        }
    }
    if (digest, entries) != (manifest.digest, manifest.entries) {
        return Err(format!(
            "its {entries} entries do not match the {} its manifest lists",
            manifest.entries
        ));
    }
    Ok(true)
}

pub struct IdentityIndex {
    db: sled::Db,
    path: std::path::PathBuf,
    /// The manifest of what is applied (see the module doc).
    manifest: Mutex<Manifest>,
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Identities already indexed for the segment being indexed, to skip re-inserting.
    recent: Mutex<(u64, HashSet<Identity>)>,
    /// Links known to be in the index.
    seen_links: Mutex<HashSet<Link>>,
    policy: LinkPolicy,
}

/// The index entries of a user, found for deletion.
pub struct UserEntries {
    pub identities: Vec<Identity>,
    /// First seqs of the segments holding their events.
    pub segments: Vec<u64>,
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(
        key.get(key.len().checked_sub(8)?..)?.try_into().ok()?,
    ))
}

impl IdentityIndex {
    /// Opens the index of `log`; an error if it cannot be opened or fails the checks of
    /// the module doc (the caller rebuilds it).
    pub fn open(path: &Path, policy: LinkPolicy, log: &Log) -> Result<Self, CollectorError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(64 * 1024 * 1024)
            // No flusher thread of sled's own; the indexer flushes.
            .flush_every_ms(None);
        // sled releases its directory lock from background threads a little after a
        // close, so an immediate reopen (a quick restart) may find it still held.
        let deadline = Instant::now() + LOCK_WAIT;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let manifest = verify(&db, log).map_err(|why| {
            CollectorError::Store(format!("the identity index is damaged: {why}"))
        })?;
        let indexed = manifest.indexed;
        Ok(Self {
            db,
            path: path.to_owned(),
            manifest: Mutex::new(manifest),
            progress: Mutex::new(Progress {
                indexed,
                target: indexed,
                stop: false,
                checked: false,
                broken: false,
            }),
            changed: Condvar::new(),
            recent: Mutex::new((0, HashSet::new())),
            seen_links: Mutex::new(HashSet::new()),
            policy,
        })
    }

    /// Starts the thread that follows the log.
    pub fn follow(self: &Arc<Self>, log: Arc<Log>) -> thread::JoinHandle<()> {
        let index = self.clone();
        thread::Builder::new()
            .name("cairn-indexer".into())
            .spawn(move || index.run(&log))
            .expect("spawn indexer thread")
    }

    /// The log has grown to `last_seq`.
    pub fn notify(&self, last_seq: u64) {
        let mut p = self.progress.lock().unwrap();
        p.target = p.target.max(last_seq);
        self.changed.notify_all();
    }

    /// Blocks until everything up to `seq` is indexed.
    pub fn wait_indexed(&self, seq: u64) {
        self.notify(seq);
        let mut p = self.progress.lock().unwrap();
        while (!p.checked || p.indexed < seq) && !p.stop && !p.broken {
            p = self.changed.wait(p).unwrap();
        }
    }

    pub fn stop(&self) {
        self.progress.lock().unwrap().stop = true;
        self.changed.notify_all();
    }

    /// Reads the entries back against the manifest (the module doc) before anything is
    /// indexed; entries that do not match are cleared and indexed again from the log's
    /// start. An index that cannot even be cleared is left for the next start to rebuild
    /// (`REBUILD_MARK`), and deletions are refused meanwhile.
    fn check_entries(&self, path: &Path) {
        let started = Instant::now();
        let manifest = *self.manifest.lock().unwrap();
        let stopping = || self.progress.lock().unwrap().stop;
        let damage = match entries_match(&self.db, &manifest, stopping) {
            Ok(true) => {
                tracing::info!(
                    entries = manifest.entries,
                    ms = started.elapsed().as_millis() as u64,
                    "identity index entries checked against their manifest"
                );
                None
            }
            Ok(false) => return,
            Err(why) => Some(why),
        };
        if let Some(why) = damage {
            tracing::warn!(%why, "identity index damaged; indexing the log again from its start");
            // The manifest goes first: a crash while clearing leaves entries without a
            // manifest, which the next start rebuilds.
            let cleared = self
                .db
                .remove(INDEXED)
                .and_then(|_| self.db.clear())
                .and_then(|()| self.db.flush().map(|_| ()));
            if let Err(e) = cleared {
                tracing::error!(error = %e, "the damaged identity index cannot be cleared; it is rebuilt at the next start, deletions wait until then");
                let _ = std::fs::write(rebuild_mark(path), b"");
                self.progress.lock().unwrap().broken = true;
                self.changed.notify_all();
                return;
            }
            *self.manifest.lock().unwrap() = Manifest::default();
            *self.recent.lock().unwrap() = (0, HashSet::new());
            self.seen_links.lock().unwrap().clear();
            self.progress.lock().unwrap().indexed = 0;
        }
        self.progress.lock().unwrap().checked = true;
        self.changed.notify_all();
    }

    fn run(&self, log: &Log) {
        self.check_entries(&self.path);
        if !self.progress.lock().unwrap().checked {
            return;
        }
        let mut flushed = Instant::now();
        loop {
            let from = {
                let mut p = self.progress.lock().unwrap();
                while !p.stop && p.indexed >= p.target {
                    p = self.changed.wait(p).unwrap();
                }
                if p.stop {
                    break;
                }
                p.indexed
            };
            match self.index_after(log, from) {
                Ok(upto) => {
                    let mut p = self.progress.lock().unwrap();
                    p.indexed = upto;
                    self.changed.notify_all();
                    drop(p);
                    if flushed.elapsed() >= FLUSH_EVERY {
                        flushed = Instant::now();
                        if let Err(e) = self.db.flush() {
                            tracing::warn!(error = %e, "identity index flush failed");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "identity indexing failed; retrying");
                    let p = self.progress.lock().unwrap();
                    let _ = self.changed.wait_timeout(p, Duration::from_secs(1));
                }
            }
        }
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "identity index flush at stop failed");
        }
    }

    /// Indexes up to `CHUNK_FRAMES` frames after `from`; returns the last seq indexed.
    fn index_after(&self, log: &Log, from: u64) -> Result<u64, CollectorError> {
        let mut batch = sled::Batch::default();
        let mut last = from;
        let mut count = 0;
        let mut recent = self.recent.lock().unwrap();
        let mut links = LinkChunk::default();
        let mut failed = None;
        let mut forgot = false;
        let mut last_fingerprint = None;
        let read = log.read_after(from, |f, segment| {
            if recent.0 != segment {
                *recent = (segment, HashSet::new());
            }
            if f.kind == Kind::Tombstone {
                // A tombstone is a chunk of its own: its removals must not meet entries
                // this chunk would insert, nor lookups made before they apply.
                if count > 0 {
                    return ControlFlow::Break(());
                }
                if let Some((ids, _)) = frame::decode_tombstone_body(f.body) {
                    if let Err(e) = self.remove_entries(&mut batch, &mut links.delta, &ids) {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                    for id in &ids {
                        recent.1.remove(id);
                    }
                    forgot = true;
                }
                last = f.seq;
                last_fingerprint = Some(fingerprint(f));
                return ControlFlow::Break(());
            }
            if f.kind == Kind::Event {
                if let Some(body) = frame::decode_event_body(f.body) {
                    for id in body.user.iter().chain(&body.anonymous) {
                        if recent.1.insert(*id) {
                            // Written once: the digest counts each entry once.
                            let entry = key(b'i', id, &segment.to_be_bytes());
                            match self.db.contains_key(&entry) {
                                Ok(true) => {}
                                Ok(false) => {
                                    links.delta.add(&entry, &[]);
                                    batch.insert(entry, &[]);
                                }
                                Err(e) => {
                                    failed = Some(e);
                                    return ControlFlow::Break(());
                                }
                            }
                        }
                    }
                    for link in body.links {
                        let anonymous = Some(link.1) == body.anonymous;
                        if let Err(e) = self.add_link(&mut links, &mut batch, link, anonymous) {
                            failed = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
            }
            last = f.seq;
            last_fingerprint = Some(fingerprint(f));
            count += 1;
            if count >= CHUNK_FRAMES {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        for (user, n) in &links.counts {
            let entry = key(b'c', user, &[]);
            if let Some(Some(before)) = links.original.get(user) {
                links.delta.remove(&entry, &before.to_be_bytes());
            }
            links.delta.add(&entry, &n.to_be_bytes());
            batch.insert(entry, &n.to_be_bytes());
        }
        let manifest = {
            let current = *self.manifest.lock().unwrap();
            let fingerprint = last_fingerprint.unwrap_or(current.fingerprint);
            current.with(&links.delta, last, fingerprint)
        };
        batch.insert(INDEXED, manifest.encode());
        let applied = read
            .map_err(CollectorError::from)
            .and_then(|()| failed.map_or(Ok(()), |e| Err(e.into())))
            .and_then(|()| self.db.apply_batch(batch).map_err(CollectorError::from));
        if applied.is_err() {
            // `recent` claims identities this batch never wrote: forget them, so the
            // retry writes their entries.
            *recent = (0, HashSet::new());
            return applied.map(|()| last);
        }
        *self.manifest.lock().unwrap() = manifest;
        let mut seen = self.seen_links.lock().unwrap();
        if forgot || seen.len() + links.added.len() > SEEN_LINKS {
            seen.clear();
        }
        seen.extend(links.added);
        self.policy.refused.inc_by(links.refused);
        Ok(last)
    }

    /// Adds to `batch` the removal of every entry of `identities`.
    fn remove_entries(
        &self,
        batch: &mut sled::Batch,
        delta: &mut Delta,
        identities: &[Identity],
    ) -> Result<(), sled::Error> {
        let distinct: HashSet<&Identity> = identities.iter().collect();
        for id in distinct {
            for prefix in [b'i', b'l'] {
                for entry in self.db.scan_prefix(key(prefix, id, &[])) {
                    let (entry, value) = entry?;
                    delta.remove(&entry, &value);
                    batch.remove(entry);
                }
            }
            let count = key(b'c', id, &[]);
            if let Some(value) = self.db.get(&count)? {
                delta.remove(&count, &value);
            }
            batch.remove(count);
        }
        Ok(())
    }

    /// Adds a link to `batch` unless it is indexed already or, for an anonymous tie,
    /// the user has reached the cap.
    fn add_link(
        &self,
        chunk: &mut LinkChunk,
        batch: &mut sled::Batch,
        link: Link,
        anonymous: bool,
    ) -> Result<(), sled::Error> {
        if chunk.added.contains(&link) || self.seen_links.lock().unwrap().contains(&link) {
            return Ok(());
        }
        let link_key = key(b'l', &link.0, &link.1);
        if self.db.contains_key(&link_key)? {
            self.seen_links.lock().unwrap().insert(link);
            return Ok(());
        }
        if anonymous {
            let n = match chunk.counts.get(&link.0) {
                Some(n) => *n,
                None => {
                    let stored = self
                        .db
                        .get(key(b'c', &link.0, &[]))?
                        .and_then(|v| seq_of(&v));
                    chunk.original.insert(link.0, stored);
                    stored.unwrap_or(0)
                }
            };
            if n >= self.policy.max_anonymous_per_user as u64 {
                chunk.refused += 1;
                return Ok(());
            }
            chunk.counts.insert(link.0, n + 1);
        }
        chunk.added.insert(link);
        chunk.delta.add(&link_key, &[]);
        batch.insert(link_key, &[]);
        Ok(())
    }

    /// The user, every identity reachable from it through links, and their events.
    pub fn entries_of(&self, user: Identity) -> Result<UserEntries, CollectorError> {
        if self.progress.lock().unwrap().broken {
            return Err(CollectorError::Store(
                "the identity index is damaged and could not be cleared; restart the collector to rebuild it".into(),
            ));
        }
        let mut identities = vec![user];
        let mut seen: HashSet<Identity> = identities.iter().copied().collect();
        let mut next = 0;
        while next < identities.len() {
            let id = identities[next];
            next += 1;
            for link in self.db.scan_prefix(key(b'l', &id, &[])).keys() {
                let link = link?;
                if let Some(other) = link.get(33..65).and_then(|o| <Identity>::try_from(o).ok()) {
                    if seen.insert(other) {
                        identities.push(other);
                    }
                }
            }
        }
        let segments = self.segments_of(identities.iter())?;
        Ok(UserEntries {
            identities,
            segments,
        })
    }

    /// First seqs of the segments holding events of `identities`.
    pub fn segments_of<'a>(
        &self,
        identities: impl IntoIterator<Item = &'a Identity>,
    ) -> Result<Vec<u64>, CollectorError> {
        let mut segments = Vec::new();
        for id in identities {
            for entry in self.db.scan_prefix(key(b'i', id, &[])).keys() {
                segments.extend(seq_of(&entry?));
            }
        }
        segments.sort_unstable();
        segments.dedup();
        Ok(segments)
    }
}

/// What one indexing chunk decided about links, applied with its batch.
#[derive(Default)]
struct LinkChunk {
    added: HashSet<Link>,
    /// Anonymous ids tied to each user, as of this chunk.
    counts: std::collections::HashMap<Identity, u64>,
    /// Each such user's count as stored before this chunk.
    original: std::collections::HashMap<Identity, Option<u64>>,
    refused: u64,
    /// The chunk's change to the manifest's digest.
    delta: Delta,
}

fn key(prefix: u8, a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + a.len() + b.len());
    k.push(prefix);
    k.extend_from_slice(a);
    k.extend_from_slice(b);
    k
}
