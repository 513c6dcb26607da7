//! Deletion's bookkeeping. A deletion appends its tombstones (durable first), then
//! zeroes the user's frames beside ingest. Between the two the feed hides those
//! events; `<data-dir>/deletions-done` records the last tombstone whose zeroing is
//! durable, so a start finishes the deletions of every later tombstone.
//!
//! Rules:
//! - an event belongs to the deleted user when its userId is one of the user's
//!   identities, or, having no userId, its anonymousId is;
//! - only events before the deletion's first tombstone are its events;
//! - a tombstone frame names at most `TOMBSTONE_IDENTITIES` identities; a larger
//!   deletion writes several, each with its share, so no frame nears the frame limit.

use std::{
    collections::HashSet,
    fs, io,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use cairn_protocol::{
    feed::{stored_record, RecordKind},
    identity::hex,
};
use serde_json::json;

use super::{
    frame::{self, EventBody, Frame, Kind},
    DeleteUser,
};
use crate::{privacy::Identity, CollectorError};

const DONE_FILE: &str = "deletions-done";
/// Identities per tombstone frame: 32 bytes each in the frame head and 67 in its JSON,
/// so a frame stays under 5 MB, far from `frame::MAX_PAYLOAD`.
pub const TOMBSTONE_IDENTITIES: usize = 50_000;

/// Whether an event belongs to a user whose identities are `wanted` (see the rules).
pub fn belongs_to(body: &EventBody, wanted: &HashSet<Identity>) -> bool {
    match (body.user, body.anonymous) {
        (Some(user), _) => wanted.contains(&user),
        (None, Some(anonymous)) => wanted.contains(&anonymous),
        (None, None) => false,
    }
}

/// Whether a frame is a live event that belongs to `wanted`.
pub fn is_mine(f: &Frame, wanted: &HashSet<Identity>) -> bool {
    f.kind == Kind::Event
        && frame::decode_event_body(f.body).is_some_and(|b| belongs_to(&b, wanted))
}

/// A deletion whose events are not zeroed yet.
pub struct Hidden {
    /// Its first tombstone's seq: the events before it are the deletion's.
    pub first: u64,
    pub last: u64,
    pub identities: HashSet<Identity>,
}

impl Hidden {
    pub fn hides(&self, f: &Frame) -> bool {
        f.seq < self.first && is_mine(f, &self.identities)
    }
}

struct Done {
    /// Tombstones up to here have their events zeroed durably.
    through: u64,
    /// The newest tombstone of a finished deletion.
    finished: u64,
}

pub struct Deletions {
    path: PathBuf,
    hidden: Mutex<Arc<Vec<Arc<Hidden>>>>,
    done: Mutex<Done>,
}

impl Deletions {
    pub fn open(data_dir: &Path) -> Result<Self, CollectorError> {
        let path = data_dir.join(DONE_FILE);
        let through = match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|e| CollectorError::Config(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            path,
            hidden: Mutex::new(Arc::new(Vec::new())),
            done: Mutex::new(Done {
                through,
                finished: through,
            }),
        })
    }

    pub fn done_through(&self) -> u64 {
        self.done.lock().unwrap().through
    }

    /// The deletions the feed must hide events of, now.
    pub fn hidden(&self) -> Arc<Vec<Arc<Hidden>>> {
        self.hidden.lock().unwrap().clone()
    }

    pub fn hide(&self, deletion: Hidden) {
        let mut hidden = self.hidden.lock().unwrap();
        let mut next = hidden.as_ref().clone();
        next.push(Arc::new(deletion));
        *hidden = Arc::new(next);
    }

    /// Stops hiding the deletion whose first tombstone is `first` (its frames are
    /// zeroed durably, or it never became durable).
    fn unhide(&self, first: u64) -> Option<u64> {
        let mut hidden = self.hidden.lock().unwrap();
        let last = hidden.iter().find(|h| h.first == first).map(|h| h.last);
        let next = hidden
            .iter()
            .filter(|h| h.first != first)
            .cloned()
            .collect();
        *hidden = Arc::new(next);
        last
    }

    /// A deletion that never became durable.
    pub fn forget(&self, first: u64) {
        self.unhide(first);
    }

    /// The deletion's frames are zeroed durably: records it once no earlier deletion
    /// is still pending.
    pub fn finished(&self, first: u64) -> Result<(), CollectorError> {
        let last = self.unhide(first).unwrap_or(first);
        let pending_first = self.hidden().iter().map(|h| h.first).min();
        let mut done = self.done.lock().unwrap();
        done.finished = done.finished.max(last);
        let through = pending_first.map_or(done.finished, |p| p - 1);
        if through > done.through {
            write_done(&self.path, through)?;
            done.through = through;
        }
        Ok(())
    }

    /// Recovery finished every deletion up to `seq`.
    pub fn recovered(&self, seq: u64) -> Result<(), CollectorError> {
        let mut done = self.done.lock().unwrap();
        if seq > done.through {
            write_done(&self.path, seq)?;
            *done = Done {
                through: seq,
                finished: seq,
            };
        }
        Ok(())
    }
}

fn write_done(path: &Path, seq: u64) -> Result<(), CollectorError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::os::unix::fs::OpenOptionsExt::mode(
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        0o600,
    )
    .open(&tmp)?;
    file.write_all(seq.to_string().as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Encoded frames and, for each, its seq and offset in the bytes (as `Log::append` takes).
pub type Frames = (Vec<u8>, Vec<(u64, usize)>);

/// The tombstone frames of a deletion, from seq `first`.
/// Each names its share of the identities; the feed record says which part it is
/// when there is more than one.
pub fn tombstone_frames(
    request: &DeleteUser,
    identities: &[Identity],
    deleted: usize,
    first: u64,
    per_frame: usize,
) -> Result<Frames, CollectorError> {
    let chunks: Vec<&[Identity]> = if identities.is_empty() {
        vec![&[]]
    } else {
        identities.chunks(per_frame.max(1)).collect()
    };
    let parts = chunks.len();
    let mut bytes = Vec::new();
    let mut frames = Vec::with_capacity(parts);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut value = json!({
            "userId": request.stored_user_id,
            "identities": chunk.iter().map(|id| hex(id)).collect::<Vec<_>>(),
            "deletedEvents": deleted,
            "deletedAt": request.deleted_at,
        });
        if parts > 1 {
            value["part"] = json!(i + 1);
            value["parts"] = json!(parts);
        }
        let record = stored_record(
            RecordKind::Tombstone,
            &request.stored_user_id,
            None,
            value.to_string().as_bytes(),
        );
        let body = frame::encode_tombstone_body(chunk, &record);
        let seq = first + i as u64;
        frames.push((seq, bytes.len()));
        frame::encode(&mut bytes, seq, Kind::Tombstone, 0, &[], &[&body])?;
    }
    Ok((bytes, frames))
}
