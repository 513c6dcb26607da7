//! The browser store: the core's synchronous `Store` over an in-memory copy, written
//! behind to IndexedDB (or localStorage) by the JavaScript host.
//!
//! Every write lands in memory and in `pending` (last write per key wins). When the
//! engine calls `sync()` the driver hands `pending` to the host, which applies it in
//! one IndexedDB transaction. Nothing is handed over until `persist` is on: before the
//! user grants any purpose the tracker keeps even its anonymous id in memory only.
//!
//! Keys as the host sees them: `k:<name>` for key-value entries, `e:<seq>:<purpose>`
//! for queued events (the host adds its tab's namespace to event keys).

use cairn::{Error, EventKey, Purpose, Store};
use std::sync::{Mutex, MutexGuard};

/// A write for the host: a value to put, or `None` to delete.
pub type Op = (String, Option<Vec<u8>>);

#[derive(Default)]
pub struct WebStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Queued events ordered by (seq, purpose): a sorted list (appends are the
    /// common case) costs far less wasm than a BTreeMap.
    events: Vec<((u64, u8), Vec<u8>)>,
    /// A handful of entries (anonymous id, consent, session...): a list is smallest.
    kv: Vec<(String, Vec<u8>)>,
    /// Writes since the last commit, in order (the host applies them in order, so
    /// the last write of a key wins).
    pending: Vec<Op>,
    persist: bool,
    sync_due: bool,
    /// Highest event seq ever written (adopted events are numbered after it).
    hi: Option<u64>,
}

pub fn event_key(k: EventKey) -> String {
    raw_event_key(k.seq, k.purpose.index())
}

fn raw_event_key(seq: u64, purpose: u8) -> String {
    // Written by hand, not format!: no fmt code in the wasm for it.
    [
        "e:",
        &crate::digits(seq),
        ":",
        &crate::digits(purpose.into()),
    ]
    .concat()
}

impl Inner {
    fn find(&self, k: (u64, u8)) -> Result<usize, usize> {
        self.events.binary_search_by(|(e, _)| e.cmp(&k))
    }

    fn insert(&mut self, k: (u64, u8), v: Vec<u8>) {
        match self.find(k) {
            Ok(i) => self.events[i].1 = v,
            Err(i) => self.events.insert(i, (k, v)),
        }
    }

    fn remove(&mut self, k: (u64, u8)) -> bool {
        match self.find(k) {
            Ok(i) => {
                self.events.remove(i);
                true
            }
            Err(_) => false,
        }
    }
}

impl WebStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads one key-value entry (`k:<name>`) read back by the host at start-up
    /// (not written again). Rule: events never come this way: the host hands
    /// over stored events with `adopt` (each tab's are under its own namespace).
    pub fn load(&self, key: &str, value: Vec<u8>) {
        let mut g = self.lock();
        g.persist = true; // something was stored before: keep storing
        if let Some(name) = key.strip_prefix("k:") {
            g.kv.push((name.to_string(), value));
        }
    }

    /// Takes an event another (closed) tab left behind, numbered after every event
    /// of this store, and returns its key. Not queued for writing: the host writes
    /// it together with the deletion of the old key.
    pub fn adopt(&self, purpose: Purpose, value: Vec<u8>) -> String {
        let mut g = self.lock();
        let seq = g.hi.map_or(0, |h| h + 1);
        g.hi = Some(seq);
        g.insert((seq, purpose.index()), value);
        event_key(EventKey { purpose, seq })
    }

    /// Starts writing through to the host: everything held so far is written with
    /// the next sync. Called once the user grants a purpose.
    pub fn enable_persist(&self) {
        let mut g = self.lock();
        if g.persist {
            return;
        }
        g.persist = true;
        let mut all: Vec<Op> = Vec::new();
        for ((seq, p), v) in &g.events {
            all.push((raw_event_key(*seq, *p), Some(v.clone())));
        }
        for (k, v) in &g.kv {
            all.push((["k:", k].concat(), Some(v.clone())));
        }
        g.pending = all;
        g.sync_due = true;
    }

    pub fn persisting(&self) -> bool {
        self.lock().persist
    }

    /// The writes to hand to the host, if a sync was asked for since the last call.
    pub fn take_commit(&self) -> Option<Vec<Op>> {
        let mut g = self.lock();
        if !g.persist || !std::mem::take(&mut g.sync_due) {
            return None;
        }
        Some(std::mem::take(&mut g.pending))
    }

    pub fn event_count(&self) -> usize {
        self.lock().events.len()
    }

    fn record(&self, g: &mut Inner, key: String, value: Option<Vec<u8>>) {
        if g.persist {
            g.pending.push((key, value));
        }
    }
}

impl Store for WebStore {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        let mut g = self.lock();
        g.hi = g.hi.max(Some(key.seq));
        g.insert((key.seq, key.purpose.index()), value.to_vec());
        self.record(&mut g, event_key(key), Some(value.to_vec()));
        Ok(())
    }

    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error> {
        let g = self.lock();
        Ok(g.find((key.seq, key.purpose.index()))
            .ok()
            .map(|i| g.events[i].1.clone()))
    }

    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error> {
        let mut g = self.lock();
        for k in keys {
            if g.remove((k.seq, k.purpose.index())) {
                self.record(&mut g, event_key(*k), None);
            }
        }
        Ok(())
    }

    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        let keys: Vec<EventKey> = self
            .lock()
            .events
            .iter()
            .filter(|((_, p), _)| *p == purpose.index())
            .map(|((seq, _), _)| EventKey { purpose, seq: *seq })
            .collect();
        self.remove_events(&keys)
    }

    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter_map(|((seq, p), v)| {
                let purpose = Purpose::from_index(*p)?;
                Some((EventKey { purpose, seq: *seq }, v.clone()))
            })
            .collect())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .lock()
            .kv
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        let mut g = self.lock();
        match g.kv.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) if v == value => return Ok(()),
            Some((_, v)) => *v = value.to_vec(),
            None => g.kv.push((key.to_string(), value.to_vec())),
        }
        self.record(&mut g, ["k:", key].concat(), Some(value.to_vec()));
        Ok(())
    }

    fn sync(&self) -> Result<(), Error> {
        self.lock().sync_due = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u64) -> EventKey {
        EventKey {
            purpose: Purpose::Analytics,
            seq,
        }
    }

    #[test]
    fn writes_nothing_until_persisting_then_everything() {
        let s = WebStore::default();
        s.set("anonymous_id", b"a").unwrap();
        s.put_event(key(0), b"x").unwrap();
        s.sync().unwrap();
        assert_eq!(s.take_commit(), None);
        s.enable_persist();
        let ops = s.take_commit().unwrap();
        assert_eq!(
            ops,
            vec![
                ("e:0:0".to_string(), Some(b"x".to_vec())),
                ("k:anonymous_id".to_string(), Some(b"a".to_vec())),
            ]
        );
        s.remove_events(&[key(0)]).unwrap();
        s.put_event(key(1), b"y").unwrap();
        assert_eq!(s.take_commit(), None, "write-behind: only after sync()");
        s.sync().unwrap();
        assert_eq!(
            s.take_commit().unwrap(),
            vec![
                ("e:0:0".to_string(), None),
                ("e:1:0".to_string(), Some(b"y".to_vec())),
            ]
        );
        s.set("anonymous_id", b"a").unwrap(); // unchanged: not written again
        s.set("consent", b"c").unwrap();
        s.sync().unwrap();
        assert_eq!(
            s.take_commit().unwrap(),
            vec![("k:consent".to_string(), Some(b"c".to_vec()))]
        );
    }

    #[test]
    fn loads_entries_and_adopts_after_the_highest_seq() {
        let s = WebStore::default();
        s.load("k:consent", b"{}".to_vec());
        assert!(s.persisting());
        assert_eq!(s.get("consent").unwrap(), Some(b"{}".to_vec()));
        s.load("e:3:0", b"x".to_vec()); // events come by adopt only: ignored
        assert_eq!(s.event_count(), 0);
        s.put_event(
            EventKey {
                purpose: Purpose::Personalization,
                seq: 7,
            },
            b"v",
        )
        .unwrap();
        assert_eq!(s.adopt(Purpose::Analytics, b"w".to_vec()), "e:8:0");
        let keys: Vec<_> = s
            .load_events()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            vec![
                EventKey {
                    purpose: Purpose::Personalization,
                    seq: 7
                },
                key(8)
            ]
        );
        s.clear_purpose(Purpose::Personalization).unwrap();
        assert_eq!(s.event_count(), 1);
    }
}
