//! sled engine. Everything lives in one tree under one-byte prefixes, so a whole group
//! commit is one `apply_batch` (crash-atomic in sled) followed by one `flush` (fsync):
//!
//! - `e` seq(8, BE)            -> feed record (see `record`)
//! - `d` writeKeyId(8) msgId   -> seq(8) receivedMs(8)      dedup window
//! - `i` identity(32) seq(8)   -> ()                        identity index
//! - `l` user(32) other(32)    -> ()                        identify / alias links
//! - `m` "next"                -> last assigned seq(8)

use std::{
    collections::HashSet,
    path::Path,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use serde_json::json;

use super::{
    event_record, feed_line, tombstone_record, DeleteUser, Deletion, EventStore, NewEvent,
    Outcome,
};
use crate::{
    privacy::{hex, Identity},
    CollectorError,
};

const META_LAST_SEQ: &[u8] = b"mnext";

pub struct SledStore {
    db: sled::Db,
    last_seq: AtomicU64,
    /// Set when a flush failed: what is in memory may not be on disk, so nothing more is
    /// acknowledged until a restart recovers from the disk.
    poisoned: AtomicBool,
}

impl SledStore {
    pub fn open(path: &Path) -> Result<Self, CollectorError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(128 * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .open()?;
        let last_seq = match db.get(META_LAST_SEQ)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| corrupt("meta"))?),
            None => 0,
        };
        Ok(Self {
            db,
            last_seq: AtomicU64::new(last_seq),
            poisoned: AtomicBool::new(false),
        })
    }

    fn commit(&self, batch: sled::Batch, last_seq: u64) -> Result<(), CollectorError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(CollectorError::Store("store needs a restart after a failed flush".into()));
        }
        self.db.apply_batch(batch)?;
        if let Err(e) = self.db.flush() {
            self.poisoned.store(true, Ordering::Release);
            return Err(e.into());
        }
        self.last_seq.store(last_seq, Ordering::Release);
        Ok(())
    }

    fn prefixed<'a>(&self, prefix: &'a [u8]) -> impl Iterator<Item = Result<sled::IVec, CollectorError>> + 'a
    where
        Self: 'a,
    {
        self.db
            .scan_prefix(prefix)
            .keys()
            .map(|k| k.map_err(CollectorError::from))
    }
}

fn corrupt(what: &str) -> CollectorError {
    CollectorError::Store(format!("corrupt {what} entry"))
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn event_key(seq: u64) -> Vec<u8> {
    key(b'e', &[&seq.to_be_bytes()])
}

fn trailing_seq(k: &[u8]) -> Result<u64, CollectorError> {
    let tail = k.get(k.len().saturating_sub(8)..).ok_or_else(|| corrupt("index"))?;
    Ok(u64::from_be_bytes(tail.try_into().map_err(|_| corrupt("index"))?))
}

impl EventStore for SledStore {
    fn append(&self, events: &[NewEvent]) -> Result<Vec<Outcome>, CollectorError> {
        let mut batch = sled::Batch::default();
        let mut in_group: HashSet<&[u8]> = HashSet::new();
        let first = self.last_seq.load(Ordering::Acquire);
        let mut seq = first;
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let dedup = key(b'd', &[&event.dedup_key]);
            if !in_group.insert(&event.dedup_key) || self.db.contains_key(&dedup)? {
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            seq += 1;
            let seq_bytes = seq.to_be_bytes();
            batch.insert(event_key(seq), event_record(&event.message_id, &event.json));
            batch.insert(dedup, key_value(seq, event.received_ms));
            for identity in &event.identities {
                batch.insert(key(b'i', &[identity, &seq_bytes]), &[]);
            }
            for (user, other) in &event.links {
                batch.insert(key(b'l', &[user, other]), &[]);
            }
            outcomes.push(Outcome::Stored { cursor: seq });
        }
        if seq > first {
            batch.insert(META_LAST_SEQ, &seq.to_be_bytes());
            self.commit(batch, seq)?;
        }
        Ok(outcomes)
    }

    fn read(&self, after: u64, limit: usize) -> Result<Vec<Vec<u8>>, CollectorError> {
        let start = event_key(after.saturating_add(1));
        let end = event_key(u64::MAX);
        self.db
            .range(start..=end)
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                Ok(feed_line(trailing_seq(&k)?, &v))
            })
            .collect()
    }

    fn delete_user(&self, request: &DeleteUser) -> Result<Deletion, CollectorError> {
        // Everything reachable from the user through identify / alias links.
        let mut identities: Vec<Identity> = vec![request.identity];
        let mut seen: HashSet<Identity> = identities.iter().copied().collect();
        let mut batch = sled::Batch::default();
        let mut next = 0;
        while next < identities.len() {
            let id = identities[next];
            next += 1;
            for link in self.prefixed(&key(b'l', &[&id])) {
                let link = link?;
                batch.remove(link.as_ref());
                let other: Identity = link[33..].try_into().map_err(|_| corrupt("link"))?;
                if seen.insert(other) {
                    identities.push(other);
                }
            }
        }
        let mut deleted_seqs = HashSet::new();
        for id in &identities {
            for entry in self.prefixed(&key(b'i', &[id])) {
                let entry = entry?;
                let seq = trailing_seq(&entry)?;
                batch.remove(entry.as_ref());
                if !deleted_seqs.contains(&seq) && self.db.contains_key(event_key(seq))? {
                    batch.remove(event_key(seq));
                    deleted_seqs.insert(seq);
                }
            }
        }
        let seq = self.last_seq.load(Ordering::Acquire) + 1;
        let value = json!({
            "userId": request.stored_user_id,
            "identities": identities.iter().map(|i| hex(i)).collect::<Vec<_>>(),
            "deletedEvents": deleted_seqs.len(),
            "deletedAt": request.deleted_at,
        });
        let value = serde_json::to_vec(&value).expect("json serialises");
        batch.insert(event_key(seq), tombstone_record(&request.stored_user_id, &value));
        batch.insert(META_LAST_SEQ, &seq.to_be_bytes());
        self.commit(batch, seq)?;
        Ok(Deletion {
            deleted_events: deleted_seqs.len() as u64,
            tombstone_cursor: seq,
        })
    }

    fn last_cursor(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    fn expire_dedup(&self, before_ms: u64) -> Result<usize, CollectorError> {
        let mut expired = 0;
        for entry in self.db.scan_prefix(b"d") {
            let (k, v) = entry?;
            let received = v
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt("dedup"))?;
            if received < before_ms
                && self
                    .db
                    .compare_and_swap(&k, Some(&v), None as Option<&[u8]>)?
                    .is_ok()
            {
                expired += 1;
            }
        }
        Ok(expired)
    }
}

fn key_value(seq: u64, received_ms: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&received_ms.to_be_bytes());
    v
}
