//! Storage sits behind a small trait so each platform brings its own (sled on
//! native and mobile, IndexedDB/localStorage on the web, memory in tests).
//!
//! Contract:
//! - `put_event` / `set` are cheap and need not be durable yet;
//! - `sync` makes every earlier write durable (the engine calls it at most
//!   `Config::sync_interval` after a write, and at once on flush/background/consent);
//! - events are keyed by (purpose, seq) so a revoked purpose can be deleted whole.
//!
//! Methods take `&self` (stores use interior mutability) so a driver may share one.

use crate::consent::Purpose;
use crate::error::Error;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Where a queued event lives. `seq` grows with every event and orders the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    pub purpose: Purpose,
    pub seq: u64,
}

/// `Send + Sync` on native targets (drivers share the engine across threads);
/// nothing on wasm32, where browser storage handles are single-threaded.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// Persistent queue plus a small key-value area (anonymousId, consent, session...).
pub trait Store: MaybeSendSync {
    /// Adds or replaces a queued event.
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error>;
    /// Reads one queued event.
    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error>;
    /// Deletes queued events (missing keys are ignored).
    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error>;
    /// Deletes every queued event of a purpose.
    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error>;
    /// Every queued event, ordered by `seq` (used once at start-up).
    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error>;
    /// Reads a key-value entry.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Writes a key-value entry.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    /// Makes all earlier writes durable.
    fn sync(&self) -> Result<(), Error>;
}

/// A store that keeps everything in memory (tests, or platforms with no disk).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    events: BTreeMap<(u64, Purpose), Vec<u8>>,
    kv: HashMap<String, Vec<u8>>,
    syncs: u64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events are held (for tests).
    pub fn event_count(&self) -> usize {
        self.lock().events.len()
    }

    /// How many times `sync` was called (for tests of the durability rule).
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        self.lock()
            .events
            .insert((key.seq, key.purpose), value.to_vec());
        Ok(())
    }

    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock().events.get(&(key.seq, key.purpose)).cloned())
    }

    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error> {
        let mut g = self.lock();
        for k in keys {
            g.events.remove(&(k.seq, k.purpose));
        }
        Ok(())
    }

    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        self.lock().events.retain(|(_, p), _| *p != purpose);
        Ok(())
    }

    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error> {
        Ok(self
            .lock()
            .events
            .iter()
            .map(|((seq, purpose), v)| {
                (
                    EventKey {
                        purpose: *purpose,
                        seq: *seq,
                    },
                    v.clone(),
                )
            })
            .collect())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock().kv.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.lock().kv.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn sync(&self) -> Result<(), Error> {
        self.lock().syncs += 1;
        Ok(())
    }
}

// A shared store is a store too (drivers keep an `Arc` to sync outside the engine).
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        (**self).put_event(key, value)
    }
    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error> {
        (**self).get_event(key)
    }
    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error> {
        (**self).remove_events(keys)
    }
    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        (**self).clear_purpose(purpose)
    }
    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error> {
        (**self).load_events()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        (**self).set(key, value)
    }
    fn sync(&self) -> Result<(), Error> {
        (**self).sync()
    }
}
