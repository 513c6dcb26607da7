//! The default engine: the event log for the bytes (fsynced per group commit), the
//! in-memory dedup window, and the sled identity index for deletion. Only the log is on
//! the acknowledgement path; the rest is rebuilt from it.
//!
//! Layout under the data dir: `log/` (segments), `index/` (sled).

use std::{
    collections::HashSet,
    ops::ControlFlow,
    path::Path,
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use cairn_protocol::feed::{feed_line, stored_record, RecordKind};

use super::{
    dedup::{fingerprint, DedupWindow},
    deletion::{belongs_to, is_mine, tombstone_frames, Deletions, Hidden, TOMBSTONE_IDENTITIES},
    frame::{self, Frame, Kind},
    index::IdentityIndex,
    log::Log,
    DeleteUser, Deletion, EventStore, FoundEvents, LinkPolicy, NewEvent, Outcome, PendingDeletion,
};
use crate::{privacy::Identity, CollectorError};

/// What a client is told to wait while the disk refuses writes.
const RETRY_AFTER_SECS: u64 = 5;
/// How often the healer retries a failed log's recovery.
const HEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Bytes a deletion zeroes between two syncs.
const ZEROED_PER_SYNC: usize = 1024 * 1024;

pub struct LogStore {
    log: Arc<Log>,
    index: Arc<IdentityIndex>,
    /// The writer's own state, held for the whole of an append or a deletion's second
    /// phase, which also serialises the two.
    writer: Mutex<DedupWindow>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    healer: Mutex<Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>>,
    deletions: Deletions,
    tombstone_identities: usize,
}

impl LogStore {
    /// Opens the store; dedup keys received before `dedup_since_ms` are not reloaded.
    pub fn open(
        data_dir: &Path,
        dedup_since_ms: u64,
        policy: LinkPolicy,
    ) -> Result<Self, CollectorError> {
        let mut dedup = DedupWindow::default();
        let deletions = Deletions::open(data_dir)?;
        let done = deletions.done_through();
        // Deletions a crash may have left half-done: those of tombstones past `done`.
        let mut unfinished: Vec<(u64, HashSet<Identity>)> = Vec::new();
        let log = Log::open(&data_dir.join("log"), |f| match f.kind {
            Kind::Event | Kind::Deleted => {
                if f.received_ms >= dedup_since_ms {
                    dedup.insert(fingerprint(f.dedup), f.received_ms);
                }
            }
            Kind::Tombstone if f.seq > done => {
                if let Some((ids, _)) = frame::decode_tombstone_body(f.body) {
                    unfinished.push((f.seq, ids.into_iter().collect()));
                }
            }
            Kind::Tombstone => {}
        })?;
        let index = open_index(&data_dir.join("index"), policy, &log)?;
        let store = Self {
            log: Arc::new(log),
            index: Arc::new(index),
            writer: Mutex::new(dedup),
            indexer: Mutex::new(None),
            healer: Mutex::new(None),
            deletions,
            tombstone_identities: TOMBSTONE_IDENTITIES,
        };
        if let Some(&(newest, _)) = unfinished.last() {
            // A deletion cut short may have had its zeroing refused by the disk (a failed
            // sync): this kernel's page cache then shows zeroed frames that the disk may
            // not hold. Frames that look deleted already are therefore written again
            // (the same bytes) and synced, not trusted (the fsync rule of `log`).
            let segments = store.log.segment_ids();
            let positions = store.positions_where(&segments, |f| {
                (f.kind == Kind::Deleted && f.seq < newest)
                    || unfinished
                        .iter()
                        .any(|(seq, ids)| f.seq < *seq && is_mine(f, ids))
            })?;
            let finished = store.zero_at(&positions, true)?;
            store.deletions.recovered(newest)?;
            if finished > 0 {
                tracing::warn!(zeroed = finished, "finished a deletion cut short");
            }
        }
        *store.indexer.lock().unwrap() = Some(store.index.follow(store.log.clone()));
        *store.healer.lock().unwrap() = Some(heal(store.log.clone()));
        store.index.notify(store.log.last_seq());
        tracing::info!(
            last_cursor = store.log.last_seq(),
            dedup_keys = store.writer.lock().unwrap().len(),
            "event log open"
        );
        Ok(store)
    }

    /// Identities per tombstone frame (tests set a small one to see deletions split).
    pub fn with_tombstone_identities(mut self, per_frame: usize) -> Self {
        self.tombstone_identities = per_frame;
        self
    }

    /// (seq, segment, offset) of every event up to `up_to` in `segments` that belongs
    /// to `wanted`.
    fn positions_of(
        &self,
        wanted: &HashSet<Identity>,
        segments: &[u64],
        up_to: u64,
    ) -> Result<Vec<(u64, u64, u64)>, CollectorError> {
        self.positions_where(segments, |f| f.seq <= up_to && is_mine(f, wanted))
    }

    /// (seq, segment, offset) of every frame in `segments` that `wanted` accepts.
    fn positions_where(
        &self,
        segments: &[u64],
        wanted: impl Fn(&Frame) -> bool,
    ) -> Result<Vec<(u64, u64, u64)>, CollectorError> {
        let mut positions = Vec::new();
        for &segment in segments {
            self.log.scan_segment(segment, |f, offset| {
                if wanted(f) {
                    positions.push((f.seq, segment, offset));
                }
            })?;
        }
        Ok(positions)
    }

    /// The events of `wanted` appended after `snapshot`, and whether any of those frames
    /// ties another identity to one of `wanted`.
    fn appended_since(
        &self,
        snapshot: u64,
        wanted: &HashSet<Identity>,
    ) -> Result<AppendedSince, CollectorError> {
        let mut since = AppendedSince::default();
        self.log.read_after_at(snapshot, |f, segment, offset| {
            if f.kind == Kind::Event {
                if let Some(body) = frame::decode_event_body(f.body) {
                    if belongs_to(&body, wanted) {
                        since.positions.push((f.seq, segment, offset));
                    }
                    since.relinked |= body
                        .links
                        .iter()
                        .any(|(user, other)| wanted.contains(user) && !wanted.contains(other));
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(since)
    }

    /// Zeroes the frames at `positions` that are still the events found there (another
    /// deletion may have zeroed one since), then syncs once. Returns how many it zeroed.
    /// With `again`, frames already zeroed are written again too.
    fn zero_at(&self, positions: &[(u64, u64, u64)], again: bool) -> Result<u64, CollectorError> {
        let mut zeroed = 0;
        let mut unsynced = 0;
        let mut touched = Vec::new();
        for &(seq, segment, offset) in positions {
            let doomed = self
                .log
                .read_frame_at(segment, offset, |f| {
                    let zeroable = f.kind == Kind::Event || (again && f.kind == Kind::Deleted);
                    (f.seq == seq && zeroable).then(|| frame::zeroed(f))
                })?
                .flatten();
            if let Some(bytes) = doomed {
                self.log.rewrite(segment, offset, &bytes)?;
                zeroed += 1;
                unsynced += bytes.len();
                if touched.last() != Some(&segment) {
                    touched.push(segment);
                }
            }
            // The writer's fdatasync of the active segment flushes these pages too:
            // keeping them few keeps acknowledgements quick.
            if unsynced >= ZEROED_PER_SYNC {
                self.log.sync_segments(&touched)?;
                (unsynced, touched) = (0, Vec::new());
            }
        }
        self.log.sync_segments(&touched)?;
        Ok(zeroed)
    }
}

#[derive(Default)]
struct AppendedSince {
    positions: Vec<(u64, u64, u64)>,
    relinked: bool,
}

/// The identity index is derived from the log: one that cannot be opened or fails its
/// checks (damaged by a full disk or a crash, a stale or foreign copy; see `index`) is
/// removed and rebuilt from the log by the indexer.
fn open_index(path: &Path, policy: LinkPolicy, log: &Log) -> Result<IdentityIndex, CollectorError> {
    let mark = super::index::rebuild_mark(path);
    if mark.exists() {
        tracing::warn!("identity index marked damaged at the last run; rebuilding it from the log");
        if path.exists() {
            std::fs::remove_dir_all(path)?;
        }
        std::fs::remove_file(&mark)?;
    }
    match IdentityIndex::open(path, policy.clone(), log) {
        Ok(index) => Ok(index),
        Err(e) => {
            tracing::warn!(error = %e, "identity index unusable; rebuilding it from the log");
            std::fs::remove_dir_all(path)?;
            IdentityIndex::open(path, policy, log)
        }
    }
}

/// An I/O error of the log: the disk refused (EIO, ENOSPC), which may pass; the caller
/// is told to retry.
fn disk_refused(e: CollectorError) -> CollectorError {
    match e {
        CollectorError::Io(e) => CollectorError::StoreUnavailable(e.to_string(), RETRY_AFTER_SECS),
        other => other,
    }
}

/// Retries a failed log's recovery every `HEAL_EVERY` until the store is dropped, so
/// readiness and ingest come back without a restart (and without waiting for a request).
fn heal(log: Arc<Log>) -> (std::sync::mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("cairn-log-healer".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(HEAL_EVERY)
            {
                if log.is_poisoned() {
                    if let Err(e) = log.recover() {
                        tracing::warn!(error = %e, "event log still cannot write");
                    }
                }
            }
        })
        .expect("spawn healer thread");
    (stop, handle)
}

impl Drop for LogStore {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.healer.lock().unwrap().take() {
            drop(stop);
            let _ = handle.join();
        }
        self.index.stop();
        if let Some(handle) = self.indexer.lock().unwrap().take() {
            let _ = handle.join();
        }
    }
}

impl EventStore for LogStore {
    fn append(&self, events: &[NewEvent]) -> Result<Vec<Outcome>, CollectorError> {
        let mut dedup = self.writer.lock().unwrap();
        let mut in_group = HashSet::with_capacity(events.len());
        let mut seq = self.log.last_seq();
        let mut bytes = Vec::with_capacity(events.iter().map(|e| e.json.len() + 256).sum());
        let mut frames = Vec::with_capacity(events.len());
        let mut fresh = Vec::with_capacity(events.len());
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let fp = fingerprint(&event.dedup_key);
            if dedup.contains(fp) || !in_group.insert(fp) {
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            seq += 1;
            let head =
                frame::event_body_head(event.user.as_ref(), event.anonymous.as_ref(), &event.links);
            let record = stored_record(
                RecordKind::Event,
                &event.message_id,
                Some(&event.source),
                &event.json,
            );
            frames.push((seq, bytes.len()));
            frame::encode(
                &mut bytes,
                seq,
                Kind::Event,
                event.received_ms,
                &event.dedup_key,
                &[&head, &record],
            )?;
            fresh.push((fp, event.received_ms));
            outcomes.push(Outcome::Stored { cursor: seq });
        }
        self.log
            .append(&bytes, &frames)
            .map_err(|e| CollectorError::StoreUnavailable(e.to_string(), RETRY_AFTER_SECS))?;
        for (fp, received_ms) in fresh {
            dedup.insert(fp, received_ms);
        }
        self.index.notify(seq);
        Ok(outcomes)
    }

    fn read(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, CollectorError> {
        let mut lines = Vec::new();
        let mut bytes = 0;
        let hidden = self.deletions.hidden();
        let read = self.log.read_after(after, |f, _| {
            let deleted = !hidden.is_empty() && hidden.iter().any(|h| h.hides(f));
            if let Some(record) = frame::feed_record(f).filter(|_| !deleted) {
                let line = feed_line(f.seq, record);
                bytes += line.len();
                lines.push(line);
            }
            if lines.len() >= limit || bytes >= max_bytes {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        // A read the disk refused (EIO) may succeed later: the reader is told to retry.
        read.map_err(|e| {
            CollectorError::StoreUnavailable(
                format!("reading the event log: {e}"),
                RETRY_AFTER_SECS,
            )
        })?;
        Ok(lines)
    }

    fn find_user_events(&self, identity: Identity) -> Result<FoundEvents, CollectorError> {
        let snapshot = self.log.last_seq();
        self.index.wait_indexed(snapshot);
        let entries = self.index.entries_of(identity)?;
        let wanted: HashSet<Identity> = entries.identities.iter().copied().collect();
        let positions = self
            .positions_of(&wanted, &entries.segments, snapshot)
            .map_err(disk_refused)?;
        Ok(FoundEvents {
            snapshot,
            identities: entries.identities,
            positions,
        })
    }

    fn delete_found(
        &self,
        request: &DeleteUser,
        found: FoundEvents,
    ) -> Result<PendingDeletion, CollectorError> {
        let _writer = self.writer.lock().unwrap();
        let last = self.log.last_seq();
        let found_ids: HashSet<Identity> = found.identities.iter().copied().collect();
        let since = self.appended_since(found.snapshot, &found_ids)?;
        let (identities, wanted, positions) = if !since.relinked {
            // No identity can have been tied to the user since the search: what it found
            // stands, with the user's events appended since.
            let mut positions = found.positions;
            positions.extend(since.positions);
            (found.identities, found_ids, positions)
        } else {
            self.index.wait_indexed(last);
            let entries = self.index.entries_of(request.identity)?;
            let wanted: HashSet<Identity> = entries.identities.iter().copied().collect();
            let positions = if found_ids.is_subset(&wanted) && found.snapshot <= last {
                // Add the older events of the identities tied meanwhile (reading only
                // their segments), and everything of the user appended since.
                let tied: HashSet<Identity> = wanted.difference(&found_ids).copied().collect();
                let segments = self.index.segments_of(&tied)?;
                let mut positions = found.positions;
                positions.extend(self.positions_of(&tied, &segments, found.snapshot)?);
                positions.extend(self.appended_since(found.snapshot, &wanted)?.positions);
                positions
            } else {
                self.positions_of(&wanted, &entries.segments, u64::MAX)?
            };
            (entries.identities, wanted, positions)
        };
        // The tombstones go first: once they are durable the events are gone for the
        // feed, and a crash before their zeroing is durable is finished at the next start.
        let first = last + 1;
        let (bytes, frames) = tombstone_frames(
            request,
            &identities,
            positions.len(),
            first,
            self.tombstone_identities,
        )?;
        let last_tombstone = frames.last().map_or(first, |f| f.0);
        self.deletions.hide(Hidden {
            first,
            last: last_tombstone,
            identities: wanted,
        });
        if let Err(e) = self.log.append(&bytes, &frames) {
            self.deletions.forget(first);
            return Err(CollectorError::StoreUnavailable(
                e.to_string(),
                RETRY_AFTER_SECS,
            ));
        }
        // The indexer drops the identities' entries when it reaches the tombstones.
        self.index.notify(last_tombstone);
        Ok(PendingDeletion {
            first_tombstone: first,
            last_tombstone,
            positions,
        })
    }

    fn finish_deletion(&self, pending: PendingDeletion) -> Result<Deletion, CollectorError> {
        // A failed zeroing keeps the deletion pending: its events stay hidden from the
        // feed, `deletions-done` is not advanced past it, and the next start redoes it
        // from what is on the disk.
        let zeroed = self
            .zero_at(&pending.positions, false)
            .map_err(disk_refused)?;
        self.deletions.finished(pending.first_tombstone)?;
        Ok(Deletion {
            deleted_events: zeroed,
            tombstone_cursor: pending.first_tombstone,
            tombstones: pending.last_tombstone - pending.first_tombstone + 1,
        })
    }

    fn last_cursor(&self) -> u64 {
        self.log.last_seq()
    }

    fn expire_dedup(&self, before_ms: u64) -> Result<usize, CollectorError> {
        Ok(self.writer.lock().unwrap().expire(before_ms))
    }

    fn healthy(&self) -> bool {
        !self.log.is_poisoned()
    }
}
