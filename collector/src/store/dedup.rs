//! The deduplication window: fingerprints of (write key, messageId) seen in the last
//! days, in memory. It is rebuilt from the event log at start-up, so it needs no
//! writes of its own on the acknowledgement path.

use std::collections::HashMap;

use ring::digest;

/// 128 bits of SHA-256: collisions are not a practical concern at any event volume.
pub type Fingerprint = u128;

pub fn fingerprint(dedup_key: &[u8]) -> Fingerprint {
    let d = digest::digest(&digest::SHA256, dedup_key);
    u128::from_le_bytes(d.as_ref()[..16].try_into().expect("16 bytes"))
}

#[derive(Default)]
pub struct DedupWindow {
    seen: HashMap<Fingerprint, u64>,
}

impl DedupWindow {
    pub fn contains(&self, fp: Fingerprint) -> bool {
        self.seen.contains_key(&fp)
    }

    pub fn insert(&mut self, fp: Fingerprint, received_ms: u64) {
        self.seen.insert(fp, received_ms);
    }

    /// Forgets keys received before `before_ms`; returns how many.
    pub fn expire(&mut self, before_ms: u64) -> usize {
        let before = self.seen.len();
        self.seen.retain(|_, received| *received >= before_ms);
        before - self.seen.len()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
}
