//! The persistent queue for native and mobile: sled, one tree per consent
//! purpose (so revoking a purpose is one `clear`) plus one tree for key-value
//! state. Writes go to sled's log in memory; `sync` is the fsync, which the
//! engine calls at most `sync_interval` after a write, batching many events
//! into one fsync.

use crate::consent::Purpose;
use crate::error::Error;
use crate::store::{EventKey, Store};
use std::path::PathBuf;

/// How to open a `SledStore`.
#[derive(Debug, Clone)]
pub struct SledConfig {
    /// Directory of the database (created if missing).
    pub path: PathBuf,
    /// Bytes of page cache sled may keep (default 1 MiB; sled's own default is 1 GiB,
    /// too much for a phone).
    pub cache_capacity: u64,
}

impl SledConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SledConfig {
            path: path.into(),
            cache_capacity: 1024 * 1024,
        }
    }
}

/// A `Store` on sled. Cheap to clone (handles share one database).
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    queues: [sled::Tree; 3],
    kv: sled::Tree,
}

/// How long opening waits for an earlier instance to release the directory lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl SledStore {
    /// Opens (or creates) the store at `path` with default settings.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, Error> {
        Self::open_with(SledConfig::new(path))
    }

    pub fn open_with(cfg: SledConfig) -> Result<Self, Error> {
        let config = sled::Config::new()
            .path(&cfg.path)
            .cache_capacity(cfg.cache_capacity)
            .mode(sled::Mode::LowSpace)
            // Durability is driven by the engine's sync(), not a timer thread.
            .flush_every_ms(None);
        // Rule: sled releases its directory lock from background threads a little
        // after a close, so a quick reopen (an app restarting its tracker) waits
        // for it, up to LOCK_WAIT, instead of failing.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other?,
            }
        };
        let tree = |p: Purpose| db.open_tree(format!("queue.{}", p.as_str()));
        let queues = [
            tree(Purpose::Analytics)?,
            tree(Purpose::Personalization)?,
            tree(Purpose::Marketing)?,
        ];
        let kv = db.open_tree("kv")?;
        Ok(SledStore { db, queues, kv })
    }

    fn queue(&self, p: Purpose) -> &sled::Tree {
        &self.queues[p.index() as usize]
    }

    /// Bytes sled reports on disk (for benchmarks and diagnostics).
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        Ok(self.db.size_on_disk()?)
    }
}

impl Store for SledStore {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        self.queue(key.purpose)
            .insert(key.seq.to_be_bytes(), value)?;
        Ok(())
    }

    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .queue(key.purpose)
            .get(key.seq.to_be_bytes())?
            .map(|v| v.to_vec()))
    }

    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error> {
        for p in Purpose::ALL {
            let mut batch = sled::Batch::default();
            let mut any = false;
            for k in keys.iter().filter(|k| k.purpose == p) {
                batch.remove(&k.seq.to_be_bytes());
                any = true;
            }
            if any {
                self.queue(p).apply_batch(batch)?;
            }
        }
        Ok(())
    }

    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        self.queue(purpose).clear()?;
        Ok(())
    }

    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error> {
        let mut out = Vec::new();
        for p in Purpose::ALL {
            let mut bad = Vec::new();
            for item in self.queue(p).iter() {
                let (k, v) = item?;
                // Rule: a key that is not an 8-byte seq (damage) is skipped and deleted.
                match <[u8; 8]>::try_from(k.as_ref()) {
                    Ok(seq) => out.push((
                        EventKey {
                            purpose: p,
                            seq: u64::from_be_bytes(seq),
                        },
                        v.to_vec(),
                    )),
                    Err(_) => bad.push(k),
                }
            }
            for k in bad {
                self.queue(p).remove(k)?;
            }
        }
        out.sort_by_key(|(k, _)| k.seq);
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.kv.get(key)?.map(|v| v.to_vec()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.kv.insert(key, value)?;
        Ok(())
    }

    fn sync(&self) -> Result<(), Error> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Consent, Engine, ManualClock, Next, Outcome, Tracked};
    use serde_json::json;
    use std::sync::Arc;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir()
                .join(format!("cairn-sled-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn key(p: Purpose, seq: u64) -> EventKey {
        EventKey { purpose: p, seq }
    }

    #[test]
    fn queue_and_kv_round_trip_and_survive_reopen() {
        let dir = TempDir::new("reopen");
        {
            let s = SledStore::open(&dir.0).unwrap();
            s.put_event(key(Purpose::Marketing, 2), b"m2").unwrap();
            s.put_event(key(Purpose::Analytics, 1), b"a1").unwrap();
            s.put_event(key(Purpose::Analytics, 3), b"a3").unwrap();
            s.put_event(key(Purpose::Personalization, 4), b"p4")
                .unwrap();
            s.set("anonymous_id", b"anon-1").unwrap();
            assert_eq!(
                s.get_event(key(Purpose::Analytics, 3)).unwrap().as_deref(),
                Some(&b"a3"[..])
            );
            assert_eq!(s.get_event(key(Purpose::Marketing, 3)).unwrap(), None);
            s.remove_events(&[key(Purpose::Analytics, 3), key(Purpose::Analytics, 99)])
                .unwrap();
            s.sync().unwrap();
        }
        let s = SledStore::open(&dir.0).unwrap();
        let seqs: Vec<(u64, Vec<u8>)> = s
            .load_events()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.seq, v))
            .collect();
        assert_eq!(
            seqs,
            vec![
                (1, b"a1".to_vec()),
                (2, b"m2".to_vec()),
                (4, b"p4".to_vec())
            ]
        );
        assert_eq!(
            s.get("anonymous_id").unwrap().as_deref(),
            Some(&b"anon-1"[..])
        );
        assert_eq!(s.get("missing").unwrap(), None);

        s.clear_purpose(Purpose::Marketing).unwrap();
        let left: Vec<Purpose> = s
            .load_events()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.purpose)
            .collect();
        assert_eq!(left, vec![Purpose::Analytics, Purpose::Personalization]);
    }

    #[test]
    fn a_bad_queue_key_is_skipped_and_deleted() {
        let dir = TempDir::new("badkey");
        let s = SledStore::open(&dir.0).unwrap();
        s.put_event(key(Purpose::Analytics, 1), b"a1").unwrap();
        s.queue(Purpose::Analytics)
            .insert(b"bad", &b"x"[..])
            .unwrap();
        let seqs: Vec<u64> = s
            .load_events()
            .unwrap()
            .iter()
            .map(|(k, _)| k.seq)
            .collect();
        assert_eq!(seqs, vec![1]);
        assert_eq!(s.queue(Purpose::Analytics).len(), 1, "the bad key is gone");
    }

    #[test]
    fn engine_on_sled_delivers_leftovers_after_reopen() {
        let dir = TempDir::new("engine");
        let clock = ManualClock::new(1_762_000_000_000);
        let mut cfg = Config::new("wk", "http://127.0.0.1:1");
        cfg.hash_key = "k".into();
        let anon;
        {
            let store = Arc::new(SledStore::open(&dir.0).unwrap());
            let mut e = Engine::new(cfg.clone(), store, Arc::new(clock.clone())).unwrap();
            e.set_consent(Consent::all()).unwrap();
            for i in 0..5 {
                assert_eq!(e.track("e", json!({ "i": i })).unwrap(), Tracked::Queued);
            }
            anon = e.anonymous_id().to_string();
            // The 200 ms deadline passes: the next loop turn fsyncs.
            clock.advance(std::time::Duration::from_millis(200));
            e.next_upload().unwrap();
        } // process "dies": engine and store dropped without flush
        let store = Arc::new(SledStore::open(&dir.0).unwrap());
        let mut e = Engine::new(cfg.clone(), store, Arc::new(clock.clone())).unwrap();
        assert_eq!(e.anonymous_id(), anon);
        assert_eq!(e.consent(), Consent::all());
        // The five events and the consent record that granting queued.
        assert_eq!(e.queued(), 6);
        clock.advance(std::time::Duration::from_secs(10));
        let Next::Upload(u) = e.next_upload().unwrap() else {
            panic!("leftovers are due")
        };
        assert_eq!(u.events, 6);
        e.upload_finished(u.id, Outcome::status(200)).unwrap();
        e.sync().unwrap();
        drop(e);
        let store = SledStore::open(&dir.0).unwrap();
        assert!(store.load_events().unwrap().is_empty());
    }
}
