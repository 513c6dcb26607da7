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
//! - `m` "indexed"                  -> seq(8 BE) of the last frame indexed

use std::{
    collections::HashSet,
    ops::ControlFlow,
    path::Path,
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use super::{
    frame::{self, Kind},
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
}

pub struct IdentityIndex {
    db: sled::Db,
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
    pub fn open(path: &Path, policy: LinkPolicy) -> Result<Self, CollectorError> {
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
        let indexed = match db.get(INDEXED)? {
            Some(v) => seq_of(&v).unwrap_or(0),
            None => 0,
        };
        Ok(Self {
            db,
            progress: Mutex::new(Progress {
                indexed,
                target: indexed,
                stop: false,
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
        while p.indexed < seq && !p.stop {
            p = self.changed.wait(p).unwrap();
        }
    }

    pub fn stop(&self) {
        self.progress.lock().unwrap().stop = true;
        self.changed.notify_all();
    }

    fn run(&self, log: &Log) {
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
                    if let Err(e) = self.remove_entries(&mut batch, &ids) {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                    for id in &ids {
                        recent.1.remove(id);
                    }
                    forgot = true;
                }
                last = f.seq;
                return ControlFlow::Break(());
            }
            if f.kind == Kind::Event {
                if let Some(body) = frame::decode_event_body(f.body) {
                    for id in body.user.iter().chain(&body.anonymous) {
                        if recent.1.insert(*id) {
                            batch.insert(key(b'i', id, &segment.to_be_bytes()), &[]);
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
            count += 1;
            if count >= CHUNK_FRAMES {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        for (user, n) in &links.counts {
            batch.insert(key(b'c', user, &[]), &n.to_be_bytes());
        }
        batch.insert(INDEXED, &last.to_be_bytes());
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
        identities: &[Identity],
    ) -> Result<(), sled::Error> {
        for id in identities {
            for prefix in [b'i', b'l'] {
                for entry in self.db.scan_prefix(key(prefix, id, &[])).keys() {
                    batch.remove(entry?);
                }
            }
            batch.remove(key(b'c', id, &[]));
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
                None => self
                    .db
                    .get(key(b'c', &link.0, &[]))?
                    .and_then(|v| seq_of(&v))
                    .unwrap_or(0),
            };
            if n >= self.policy.max_anonymous_per_user as u64 {
                chunk.refused += 1;
                return Ok(());
            }
            chunk.counts.insert(link.0, n + 1);
        }
        chunk.added.insert(link);
        batch.insert(link_key, &[]);
        Ok(())
    }

    /// The user, every identity reachable from it through links, and their events.
    pub fn entries_of(&self, user: Identity) -> Result<UserEntries, CollectorError> {
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
    refused: u64,
}

fn key(prefix: u8, a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + a.len() + b.len());
    k.push(prefix);
    k.extend_from_slice(a);
    k.extend_from_slice(b);
    k
}
