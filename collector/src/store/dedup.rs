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

/// Sharded so that growing the window rehashes one small map at a time: a single map of
/// millions of keys would stall the writer, and every acknowledgement with it, while it
/// doubled.
const SHARDS: usize = 256;

pub struct DedupWindow {
    shards: Vec<HashMap<Fingerprint, u64>>,
}

impl Default for DedupWindow {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl DedupWindow {
    fn shard(&self, fp: Fingerprint) -> usize {
        (fp >> 120) as usize % SHARDS
    }

    pub fn contains(&self, fp: Fingerprint) -> bool {
        self.shards[self.shard(fp)].contains_key(&fp)
    }

    pub fn insert(&mut self, fp: Fingerprint, received_ms: u64) {
        let shard = self.shard(fp);
        self.shards[shard].insert(fp, received_ms);
    }

    /// Forgets keys received before `before_ms`; returns how many.
    pub fn expire(&mut self, before_ms: u64) -> usize {
        let before = self.len();
        for shard in &mut self.shards {
            shard.retain(|_, received| *received >= before_ms);
        }
        before - self.len()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }
}
