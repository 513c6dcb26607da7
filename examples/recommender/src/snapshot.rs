//! The state on disk: one snapshot file, `<data-dir>/state.json`, holding the model and
//! the cursor of the last record applied to it.
//!
//! Why a snapshot file and not a key-value store such as sled: the state is derived
//! (it can always be rebuilt by reading the feed from cursor 0), so it needs no
//! per-write durability, only a consistent (model, cursor) pair; and a deletion must
//! leave nothing of the person in any file. A log-structured store keeps removed
//! values in old segments until it happens to reclaim them; a snapshot is written
//! whole to a temporary file, fsynced and renamed over the old one, so once it lands
//! the forgotten person is in no file of the data dir.
//!
//! Rules: the snapshot is written at most every `--snapshot-ms` (or thirty times as
//! long as the last write took, whichever is longer), at once after a deletion or
//! revocation, and at shutdown; a snapshot of another format or half-life is set
//! aside and the model is rebuilt from the feed.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{model::Model, RecoError};

const FILE: &str = "state.json";
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Out<'a> {
    format: u32,
    model: &'a Model,
}

#[derive(Deserialize)]
struct In {
    format: u32,
    model: Model,
}

#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    pub fn new(dir: &Path) -> Result<Self, RecoError> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// The saved model, if there is a usable one.
    pub fn load(&self, half_life_ms: f64) -> Result<Option<Model>, RecoError> {
        let bytes = match fs::read(self.path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<In>(&bytes) {
            Ok(s) if s.format == FORMAT && s.model.half_life_ms == half_life_ms => {
                Ok(Some(s.model))
            }
            Ok(_) => {
                tracing::warn!(
                    "snapshot has another format or half-life: rebuilding from the feed"
                );
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable snapshot: rebuilding from the feed");
                Ok(None)
            }
        }
    }

    /// The snapshot's bytes. The buffer starts at the last snapshot's size, so a large
    /// model is not copied over and over while the buffer doubles.
    pub fn encode(model: &Model) -> Vec<u8> {
        static LAST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::with_capacity(last + last / 16);
        serde_json::to_writer(
            &mut out,
            &Out {
                format: FORMAT,
                model,
            },
        )
        .expect("the model serialises");
        LAST.store(out.len(), std::sync::atomic::Ordering::Relaxed);
        out
    }

    /// Writes `bytes` as the snapshot: temporary file, fsync, rename, fsync the dir.
    pub fn save(&self, bytes: &[u8]) -> Result<(), RecoError> {
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, self.path())?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
