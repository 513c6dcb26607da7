//! A map split into a fixed number of shards, each behind an `Arc`, so that the
//! snapshot writer can take a copy of the shards that changed in microseconds (it
//! clones `Arc`s, not data) and encode them without any lock while the follower goes
//! on applying records.
//!
//! Rules:
//! - a key's shard is FNV-1a 64 of its bytes modulo the shard count: stable across
//!   processes and versions, so shard `i` on disk holds exactly the keys that hash to
//!   `i` in memory;
//! - every mutable access goes through [`Arc::make_mut`], twice: a shard that a
//!   snapshot still holds is copied first (its keys and `Arc`s to the values, not the
//!   values), then the value itself if the snapshot holds it too; so a snapshot in
//!   flight costs the follower one copy of each value it changes, and the shard is
//!   marked dirty;
//! - [`Shards::take_dirty`] hands out the dirty shards and clears the marks: a
//!   snapshot writes exactly what changed since the previous one.

use std::{borrow::Borrow, collections::HashMap, sync::Arc};

/// One shard's contents.
pub type Shard<V> = HashMap<String, Arc<V>>;

/// FNV-1a 64 of `key`: the shard function (and the snapshot's record fingerprint).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard of `key` among `n`.
pub fn shard_of(key: &str, n: usize) -> usize {
    (fnv1a(key.as_bytes()) % n as u64) as usize
}

#[derive(Debug, Clone)]
pub struct Shards<V> {
    shards: Vec<Arc<Shard<V>>>,
    dirty: Vec<bool>,
    len: usize,
}

impl<V: Clone> Shards<V> {
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "at least one shard");
        Self {
            shards: (0..n).map(|_| Arc::new(HashMap::new())).collect(),
            dirty: vec![false; n],
            len: 0,
        }
    }

    /// Shards loaded from a snapshot (nothing dirty).
    pub fn from_shards(shards: Vec<Shard<V>>) -> Self {
        let len = shards.iter().map(HashMap::len).sum();
        let n = shards.len();
        Self {
            shards: shards.into_iter().map(Arc::new).collect(),
            dirty: vec![false; n],
            len,
        }
    }

    pub fn count(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_of(&self, key: &str) -> usize {
        shard_of(key, self.shards.len())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        String: Borrow<Q>,
        Q: AsRef<str> + Eq + std::hash::Hash + ?Sized,
    {
        self.shards[self.shard_of(key.as_ref())]
            .get(key)
            .map(|v| &**v)
    }

    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&String, &V)>
    where
        String: Borrow<Q>,
        Q: AsRef<str> + Eq + std::hash::Hash + ?Sized,
    {
        self.shards[self.shard_of(key.as_ref())]
            .get_key_value(key)
            .map(|(k, v)| (k, &**v))
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        String: Borrow<Q>,
        Q: AsRef<str> + Eq + std::hash::Hash + ?Sized,
    {
        self.get(key).is_some()
    }

    /// The shard of `key`, for writing (copied first if a snapshot holds it).
    fn shard_mut(&mut self, key: &str) -> &mut Shard<V> {
        let i = self.shard_of(key);
        self.dirty[i] = true;
        Arc::make_mut(&mut self.shards[i])
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.shard_of(key);
        if !self.shards[i].contains_key(key) {
            return None;
        }
        self.shard_mut(key).get_mut(key).map(Arc::make_mut)
    }

    pub fn insert(&mut self, key: String, value: V) -> Option<Arc<V>> {
        let old = self.shard_mut(&key).insert(key, Arc::new(value));
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, key: &str) -> Option<Arc<V>> {
        let i = self.shard_of(key);
        if !self.shards[i].contains_key(key) {
            return None;
        }
        let old = self.shard_mut(key).remove(key);
        self.len -= old.is_some() as usize;
        old
    }

    /// Keeps the entries `keep` accepts, in every shard (a shard that loses nothing is
    /// neither copied nor marked dirty).
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &V) -> bool) {
        for i in 0..self.shards.len() {
            if self.shards[i].iter().all(|(k, v)| keep(k, v)) {
                continue;
            }
            self.dirty[i] = true;
            let shard = Arc::make_mut(&mut self.shards[i]);
            let before = shard.len();
            shard.retain(|k, v| keep(k, v));
            self.len -= before - shard.len();
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|(k, v)| (k, &**v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Every value, for writing: marks every shard dirty.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.dirty.iter_mut().for_each(|d| *d = true);
        self.shards
            .iter_mut()
            .flat_map(|s| Arc::make_mut(s).values_mut().map(Arc::make_mut))
    }

    /// The dirty shards (index and a shared copy) with their marks cleared.
    pub fn take_dirty(&mut self) -> Vec<(usize, Arc<Shard<V>>)> {
        let mut out = Vec::new();
        for (i, d) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(d) {
                out.push((i, self.shards[i].clone()));
            }
        }
        out
    }

    /// A shared copy of shard `i`.
    pub fn shard(&self, i: usize) -> Arc<Shard<V>> {
        self.shards[i].clone()
    }

    /// Marks shard `i` dirty again (its snapshot was abandoned).
    pub fn mark_dirty(&mut self, i: usize) {
        self.dirty[i] = true;
    }

    /// Marks every shard dirty (the next snapshot writes them all).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.iter_mut().for_each(|d| *d = true);
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty.iter().any(|d| *d)
    }
}

impl<V: Clone + Default> Shards<V> {
    /// `entry(key).or_default()` without allocating a key that is already there.
    pub fn slot(&mut self, key: &str) -> &mut V {
        let i = self.shard_of(key);
        if !self.shards[i].contains_key(key) {
            self.len += 1;
            self.dirty[i] = true;
            Arc::make_mut(&mut self.shards[i]).insert(key.to_owned(), Arc::default());
        }
        Arc::make_mut(self.shard_mut(key).get_mut(key).expect("present"))
    }
}

impl<V: Clone> Default for Shards<V> {
    fn default() -> Self {
        Self::new(1)
    }
}

impl<V: Clone> std::ops::Index<&str> for Shards<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        self.get(key).expect("key present")
    }
}

impl<V: Clone> std::ops::Index<&String> for Shards<V> {
    type Output = V;
    fn index(&self, key: &String) -> &V {
        self.get(key.as_str()).expect("key present")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_on_write_leaves_a_taken_shard_as_it_was() {
        let mut s: Shards<u32> = Shards::new(8);
        *s.slot("a") = 1;
        *s.slot("b") = 2;
        let taken = s.take_dirty();
        assert!(!s.is_dirty());
        *s.slot("a") = 10;
        let a = s.shard_of("a");
        let snap = taken.iter().find(|(i, _)| *i == a).unwrap();
        assert_eq!(*snap.1["a"], 1, "the snapshot's copy is unchanged");
        assert_eq!(s["a"], 10);
        assert_eq!(s.take_dirty().len(), 1, "only a's shard changed");
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove("a").as_deref(), Some(&10));
        s.retain(|_, v| *v != 2);
        assert!(s.is_empty());
    }

    #[test]
    fn the_shard_function_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
