//! The browser store: the core's synchronous `Store` over an in-memory copy, written
//! behind to IndexedDB (or localStorage) by the JavaScript host.
//!
//! Every write lands in memory, and its key in `pending`. When the engine calls
//! `sync()` the driver hands the host each pending key with its value as it is then
//! (none: deleted), which the host applies in one IndexedDB transaction. A value is
//! not copied for the host until then. Nothing is handed over until `persist` is on:
//! before the user grants any purpose the tracker keeps even its anonymous id in
//! memory only.
//!
//! Keys as the host sees them: `k:<name>` for key-value entries, `e:<seq>:<purpose>`
//! for queued events (the host adds its tab's namespace to event keys).

use cairn::{Error, EventKey, Purpose, Store};
use std::sync::{Mutex, MutexGuard};

/// A key written since the last commit: a queued event's (seq, purpose), or an
/// entry's place in `kv` (entries are never removed).
#[derive(Clone, Copy)]
enum Written {
    Event((u64, u8)),
    Entry(usize),
}

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
    /// Keys written since the last commit, in order.
    pending: Vec<Written>,
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
        let mut all: Vec<Written> = g.events.iter().map(|(k, _)| Written::Event(*k)).collect();
        all.extend((0..g.kv.len()).map(Written::Entry));
        g.pending = all;
        g.sync_due = true;
    }

    pub fn persisting(&self) -> bool {
        self.lock().persist
    }

    /// If a sync was asked for since the last call, hands `put` each key written
    /// since then, in order, with its value now (`None`: deleted) and returns true.
    pub fn commit(&self, put: &mut dyn FnMut(&str, Option<&[u8]>)) -> bool {
        let mut g = self.lock();
        if !g.persist || !std::mem::take(&mut g.sync_due) {
            return false;
        }
        for w in std::mem::take(&mut g.pending) {
            match w {
                Written::Event(k) => {
                    let v = g.find(k).ok().map(|i| &g.events[i].1[..]);
                    put(&raw_event_key(k.0, k.1), v)
                }
                Written::Entry(i) => {
                    let (name, v) = &g.kv[i];
                    put(&["k:", name].concat(), Some(v))
                }
            }
        }
        true
    }

    pub fn event_count(&self) -> usize {
        self.lock().events.len()
    }

    fn record(&self, g: &mut Inner, written: Written) {
        if g.persist {
            g.pending.push(written);
        }
    }
}

impl Store for WebStore {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        let mut g = self.lock();
        g.hi = g.hi.max(Some(key.seq));
        let k = (key.seq, key.purpose.index());
        g.insert(k, value.to_vec());
        self.record(&mut g, Written::Event(k));
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
            let k = (k.seq, k.purpose.index());
            if g.remove(k) {
                self.record(&mut g, Written::Event(k));
            }
        }
        Ok(())
    }

    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        let mut g = self.lock();
        let Inner {
            events,
            pending,
            persist,
            ..
        } = &mut *g;
        events.retain(|(k, _)| {
            let keep = k.1 != purpose.index();
            if !keep && *persist {
                pending.push(Written::Event(*k));
            }
            keep
        });
        Ok(())
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
        let i = match g.kv.iter().position(|(k, _)| k == key) {
            Some(i) if g.kv[i].1 == value => return Ok(()),
            Some(i) => {
                g.kv[i].1 = value.to_vec();
                i
            }
            None => {
                g.kv.push((key.to_string(), value.to_vec()));
                g.kv.len() - 1
            }
        };
        self.record(&mut g, Written::Entry(i));
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

    /// A write as the host gets it: a value to put, or `None` to delete.
    type Op = (String, Option<Vec<u8>>);

    fn take_commit(s: &WebStore) -> Option<Vec<Op>> {
        let mut ops = Vec::new();
        s.commit(&mut |k, v| ops.push((k.to_string(), v.map(<[u8]>::to_vec))))
            .then_some(ops)
    }

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
        assert_eq!(take_commit(&s), None);
        s.enable_persist();
        let ops = take_commit(&s).unwrap();
        assert_eq!(
            ops,
            vec![
                ("e:0:0".to_string(), Some(b"x".to_vec())),
                ("k:anonymous_id".to_string(), Some(b"a".to_vec())),
            ]
        );
        s.remove_events(&[key(0)]).unwrap();
        s.put_event(key(1), b"y").unwrap();
        assert_eq!(take_commit(&s), None, "write-behind: only after sync()");
        s.sync().unwrap();
        assert_eq!(
            take_commit(&s).unwrap(),
            vec![
                ("e:0:0".to_string(), None),
                ("e:1:0".to_string(), Some(b"y".to_vec())),
            ]
        );
        s.set("anonymous_id", b"a").unwrap(); // unchanged: not written again
        s.set("consent", b"c").unwrap();
        s.sync().unwrap();
        assert_eq!(
            take_commit(&s).unwrap(),
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
