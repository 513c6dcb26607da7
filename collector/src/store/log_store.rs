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

use serde_json::json;

use super::{
    dedup::{fingerprint, DedupWindow},
    event_record, feed_line,
    frame::{self, EventBody, Frame, Kind},
    index::IdentityIndex,
    log::Log,
    tombstone_record, DeleteUser, Deletion, EventStore, FoundEvents, NewEvent, Outcome,
};
use crate::{
    privacy::{hex, Identity},
    CollectorError,
};

pub struct LogStore {
    log: Arc<Log>,
    index: Arc<IdentityIndex>,
    /// The writer's own state, held for the whole of an append or a deletion, which
    /// also serialises the two.
    writer: Mutex<DedupWindow>,
    indexer: Mutex<Option<JoinHandle<()>>>,
}

/// Whether an event belongs to a user being deleted, whose identities (the user, the
/// anonymousIds and aliases tied to it) are `wanted`: an event with a userId belongs to
/// that user only; an event without one belongs to the owner of its anonymousId. So a
/// device shared by two users loses only the anonymous events, never the other user's.
fn belongs_to(body: &EventBody, wanted: &HashSet<Identity>) -> bool {
    match (body.user, body.anonymous) {
        (Some(user), _) => wanted.contains(&user),
        (None, Some(anonymous)) => wanted.contains(&anonymous),
        (None, None) => false,
    }
}

/// Whether a frame is a live event that belongs to `wanted` (see `belongs_to`).
fn is_mine(f: &Frame, wanted: &HashSet<Identity>) -> bool {
    f.kind == Kind::Event
        && frame::decode_event_body(f.body).is_some_and(|b| belongs_to(&b, wanted))
}

impl LogStore {
    /// Opens the store; dedup keys received before `dedup_since_ms` are not reloaded.
    pub fn open(data_dir: &Path, dedup_since_ms: u64) -> Result<Self, CollectorError> {
        let mut dedup = DedupWindow::default();
        // Deletions a crash may have left half-done: those of tombstones after the last
        // event (a deletion finishes before the writer appends anything else).
        let mut unfinished: HashSet<Identity> = HashSet::new();
        let log = Log::open(&data_dir.join("log"), |f| match f.kind {
            Kind::Event | Kind::Deleted => {
                if f.received_ms >= dedup_since_ms {
                    dedup.insert(fingerprint(f.dedup), f.received_ms);
                }
                if f.kind == Kind::Event {
                    unfinished.clear();
                }
            }
            Kind::Tombstone => {
                if let Some((ids, _)) = frame::decode_tombstone_body(f.body) {
                    unfinished.extend(ids);
                }
            }
        })?;
        let store = Self {
            log: Arc::new(log),
            index: Arc::new(IdentityIndex::open(&data_dir.join("index"))?),
            writer: Mutex::new(dedup),
            indexer: Mutex::new(None),
        };
        if !unfinished.is_empty() {
            let segments = store.log.segment_ids();
            let finished = store.zero_events_of(&unfinished, &segments)?;
            tracing::warn!(
                zeroed = finished,
                "finished a deletion cut short by a crash"
            );
        }
        *store.indexer.lock().unwrap() = Some(store.index.follow(store.log.clone()));
        store.index.notify(store.log.last_seq());
        tracing::info!(
            last_cursor = store.log.last_seq(),
            dedup_keys = store.writer.lock().unwrap().len(),
            "event log open"
        );
        Ok(store)
    }

    /// Overwrites, in `segments`, the frames of every event that belongs to `wanted`
    /// with zeroes, and makes that durable. Returns how many it zeroed.
    fn zero_events_of(
        &self,
        wanted: &HashSet<Identity>,
        segments: &[u64],
    ) -> Result<u64, CollectorError> {
        let positions = self.positions_of(wanted, segments, u64::MAX)?;
        self.zero_at(&positions)
    }

    /// (seq, segment, offset) of every event up to `up_to` in `segments` that belongs
    /// to `wanted`.
    fn positions_of(
        &self,
        wanted: &HashSet<Identity>,
        segments: &[u64],
        up_to: u64,
    ) -> Result<Vec<(u64, u64, u64)>, CollectorError> {
        let mut positions = Vec::new();
        for &segment in segments {
            self.log.scan_segment(segment, |f, offset| {
                if f.seq <= up_to && is_mine(f, wanted) {
                    positions.push((f.seq, segment, offset));
                }
            })?;
        }
        Ok(positions)
    }

    /// Zeroes the frames at `positions` that are still the events found there (another
    /// deletion may have zeroed one since), then syncs once. Returns how many it zeroed.
    fn zero_at(&self, positions: &[(u64, u64, u64)]) -> Result<u64, CollectorError> {
        let mut zeroed = 0;
        for &(seq, segment, offset) in positions {
            let doomed = self
                .log
                .read_frame_at(segment, offset, |f| {
                    (f.seq == seq && f.kind == Kind::Event).then(|| frame::zeroed(f))
                })?
                .flatten();
            if let Some(bytes) = doomed {
                self.log.rewrite(segment, offset, &bytes)?;
                zeroed += 1;
            }
        }
        if zeroed > 0 {
            self.log.sync_all_segments()?;
        }
        Ok(zeroed)
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
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
            let record = event_record(&event.message_id, &event.json);
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
        self.log.append(&bytes, &frames)?;
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
        self.log.read_after(after, |f, _| {
            if let Some(record) = frame::feed_record(f) {
                let line = feed_line(f.seq, record);
                bytes += line.len();
                lines.push(line);
            }
            if lines.len() >= limit || bytes >= max_bytes {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(lines)
    }

    fn find_user_events(&self, identity: Identity) -> Result<FoundEvents, CollectorError> {
        let snapshot = self.log.last_seq();
        self.index.wait_indexed(snapshot);
        let entries = self.index.entries_of(identity)?;
        let wanted: HashSet<Identity> = entries.identities.iter().copied().collect();
        let positions = self.positions_of(&wanted, &entries.segments, snapshot)?;
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
    ) -> Result<Deletion, CollectorError> {
        let _writer = self.writer.lock().unwrap();
        let last = self.log.last_seq();
        self.index.wait_indexed(last);
        let entries = self.index.entries_of(request.identity)?;
        let wanted: HashSet<Identity> = entries.identities.iter().copied().collect();
        let found_ids: HashSet<Identity> = found.identities.iter().copied().collect();
        let positions = if wanted == found_ids && found.snapshot <= last {
            // The same identities: what was found up to the snapshot stands; add the
            // events appended since.
            let mut positions = found.positions;
            self.log
                .read_after_at(found.snapshot, |f, segment, offset| {
                    if is_mine(f, &wanted) {
                        positions.push((f.seq, segment, offset));
                    }
                    ControlFlow::Continue(())
                })?;
            positions
        } else {
            // Identities were linked to (or unlinked from) the user meanwhile: their
            // older events were not looked for, so search every listed segment again.
            self.positions_of(&wanted, &entries.segments, u64::MAX)?
        };
        // The tombstone goes first: once it is durable, a crash in the middle of the
        // zeroing below is finished at the next start.
        let value = json!({
            "userId": request.stored_user_id,
            "identities": entries.identities.iter().map(|i| hex(i)).collect::<Vec<_>>(),
            "deletedEvents": positions.len(),
            "deletedAt": request.deleted_at,
        });
        let record = tombstone_record(&request.stored_user_id, value.to_string().as_bytes());
        let body = frame::encode_tombstone_body(&entries.identities, &record);
        let tombstone_seq = last + 1;
        let mut bytes = Vec::new();
        frame::encode(&mut bytes, tombstone_seq, Kind::Tombstone, 0, &[], &[&body])?;
        self.log.append(&bytes, &[(tombstone_seq, 0)])?;
        let zeroed = self.zero_at(&positions)?;
        self.index.forget(entries)?;
        self.index.notify(tombstone_seq);
        Ok(Deletion {
            deleted_events: zeroed,
            tombstone_cursor: tombstone_seq,
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
