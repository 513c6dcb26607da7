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
    frame::{self, Kind},
    index::IdentityIndex,
    log::Log,
    tombstone_record, DeleteUser, Deletion, EventStore, NewEvent, Outcome,
};
use crate::{
    privacy::{hex, Identity},
    CollectorError,
};

pub struct LogStore {
    log: Arc<Log>,
    index: Arc<IdentityIndex>,
    /// Held by the one writer for the whole of an append or a deletion.
    dedup: Mutex<DedupWindow>,
    indexer: Mutex<Option<JoinHandle<()>>>,
}

impl LogStore {
    pub fn open(data_dir: &Path) -> Result<Self, CollectorError> {
        let mut dedup = DedupWindow::default();
        // Deletions a crash may have left half-done: those of tombstones after the last event.
        let mut unfinished: Vec<u64> = Vec::new();
        let log = Log::open(&data_dir.join("log"), |f| {
            dedup.insert(fingerprint(f.dedup), f.received_ms);
            match f.kind {
                Kind::Event => unfinished.clear(),
                Kind::Tombstone => unfinished
                    .extend(frame::decode_tombstone_body(f.body).map_or(Vec::new(), |(s, _)| s)),
                Kind::Deleted => {}
            }
        })?;
        let log = Arc::new(log);
        let store = Self {
            index: Arc::new(IdentityIndex::open(&data_dir.join("index"))?),
            dedup: Mutex::new(dedup),
            indexer: Mutex::new(None),
            log,
        };
        store.zero_events(&unfinished)?;
        *store.indexer.lock().unwrap() = Some(store.index.follow(store.log.clone()));
        store.index.notify(store.log.last_seq());
        tracing::info!(
            last_cursor = store.log.last_seq(),
            dedup_keys = store.dedup.lock().unwrap().len(),
            "event log open"
        );
        Ok(store)
    }

    /// Overwrites the given events' frames with zeroes and makes that durable; returns
    /// the seqs that were events (not already deleted).
    fn zero_events(&self, seqs: &[u64]) -> Result<Vec<u64>, CollectorError> {
        let mut zeroed = Vec::new();
        for &seq in seqs {
            let Some(located) = self.log.locate(seq)? else {
                continue;
            };
            let frame::Decoded::Frame { frame: f, .. } = frame::decode(&located.bytes) else {
                continue;
            };
            if f.kind == Kind::Event {
                self.log
                    .rewrite(located.segment, located.offset, &frame::zeroed(&f))?;
                zeroed.push(seq);
            }
        }
        if !zeroed.is_empty() {
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
        let mut dedup = self.dedup.lock().unwrap();
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
            let head = frame::event_body_head(&event.identities, &event.links);
            let record = event_record(&event.message_id, &event.json);
            frames.push((seq, bytes.len()));
            frame::encode(
                &mut bytes,
                seq,
                Kind::Event,
                event.received_ms,
                &event.dedup_key,
                &[&head, &record],
            );
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

    fn read(&self, after: u64, limit: usize) -> Result<Vec<Vec<u8>>, CollectorError> {
        let mut lines = Vec::new();
        self.log.read_after(after, |f, _| {
            if let Some(record) = frame::feed_record(f) {
                lines.push(feed_line(f.seq, record));
            }
            if lines.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(lines)
    }

    fn delete_user(&self, request: &DeleteUser) -> Result<Deletion, CollectorError> {
        let _writer = self.dedup.lock().unwrap();
        let last = self.log.last_seq();
        self.index.wait_indexed(last);
        let entries = self.index.entries_of(request.identity)?;
        let wanted: HashSet<Identity> = entries.identities.iter().copied().collect();
        // (seq, segment, offset, zeroed frame) of every event of the user's identities.
        let mut doomed = Vec::new();
        for &segment in &entries.segments {
            self.log.scan_segment(segment, |f, offset| {
                if f.kind != Kind::Event {
                    return;
                }
                let Some(body) = frame::decode_event_body(f.body) else {
                    return;
                };
                if body.identities.iter().any(|id| wanted.contains(id)) {
                    doomed.push((f.seq, segment, offset, frame::zeroed(f)));
                }
            })?;
        }
        let seqs: Vec<u64> = doomed.iter().map(|d| d.0).collect();
        // The tombstone goes first: once it is durable, a crash in the middle of the
        // zeroing below is finished at the next start.
        let value = json!({
            "userId": request.stored_user_id,
            "identities": entries.identities.iter().map(|i| hex(i)).collect::<Vec<_>>(),
            "deletedEvents": seqs.len(),
            "deletedAt": request.deleted_at,
        });
        let record = tombstone_record(&request.stored_user_id, value.to_string().as_bytes());
        let body = frame::encode_tombstone_body(&seqs, &record);
        let tombstone_seq = last + 1;
        let mut bytes = Vec::new();
        frame::encode(&mut bytes, tombstone_seq, Kind::Tombstone, 0, &[], &[&body]);
        self.log.append(&bytes, &[(tombstone_seq, 0)])?;
        for (_, segment, offset, zeroed) in &doomed {
            self.log.rewrite(*segment, *offset, zeroed)?;
        }
        if !doomed.is_empty() {
            self.log.sync_all_segments()?;
        }
        self.index.forget(entries)?;
        self.index.notify(tombstone_seq);
        Ok(Deletion {
            deleted_events: seqs.len() as u64,
            tombstone_cursor: tombstone_seq,
        })
    }

    fn last_cursor(&self) -> u64 {
        self.log.last_seq()
    }

    fn expire_dedup(&self, before_ms: u64) -> Result<usize, CollectorError> {
        Ok(self.dedup.lock().unwrap().expire(before_ms))
    }
}
