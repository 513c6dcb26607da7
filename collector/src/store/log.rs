//! The event log: the collector's source of truth. Segment files of frames (see `frame`),
//! appended by one writer and made durable with fdatasync before anything is
//! acknowledged; read concurrently by the feed up to the durable end only.
//!
//! Recovery rules, applied when the log is opened:
//! - frames whose checksum fails, followed (through their intact lengths) by a valid
//!   frame, were being zeroed by a deletion when the process died, and are skipped as
//!   deleted; zeroing never changes a frame's length, so the chain can be followed;
//! - what cannot be followed to a valid frame at the end of the last segment was never
//!   acknowledged (an append cut short), and the file is truncated before it;
//! - the same in an earlier segment is damage, not a torn append: it is reported and
//!   left in place.
//!
//! Failed writes and syncs (ENOSPC, EIO, a failed fdatasync). The rule, after
//! PostgreSQL's 2018 fsync problem: once fsync has failed, the kernel may have dropped
//! the dirty pages and marked them clean, so a later fsync of the same file can succeed
//! without the data ever reaching the disk. Therefore a failed group is never retried and
//! its segment is never written, truncated or synced again: nothing of the group was
//! acknowledged, and appends go on in a new segment file, whose pages have no history,
//! starting at the first seq the failed group had. That is the cut: readers never look
//! past the failed segment's durable end, and `open` reads every segment only up to the
//! next segment's first seq, so the failed group's bytes (whole, torn or absent) are
//! never read, after a restart either. (When the failed group was the first thing in its
//! segment, that file holds nothing durable and is replaced by a new file of the same
//! name.) Until the new segment and a probe write to the disk (`PROBE_BYTES`, fsynced,
//! then removed) succeed, the log acknowledges nothing; `recover` is retried by the
//! store's healer, so no restart is needed once the disk takes writes again. A log
//! directory that vanished or was replaced is never recovered. Every file operation goes
//! through `fault::check`, a seam tests can arm to fail it (feature `fault-injection`).

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io,
    ops::ControlFlow,
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
};

use super::{
    fault::{self, Op},
    frame::{self, Decoded, Frame},
};

/// A new segment is started once the active one is this large.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// One read position is remembered every this many frames.
const MARK_EVERY: u32 = 256;
/// Reads fetch this much of a segment at a time.
const CHUNK: usize = 1024 * 1024;
/// What a recovery writes and syncs to learn that the disk takes writes again.
const PROBE_BYTES: usize = 64 * 1024;

pub struct Segment {
    pub first_seq: u64,
    path: PathBuf,
    file: File,
    /// Bytes that are durable and whole; readers never look past it.
    durable_len: AtomicU64,
}

struct Tail {
    segment: Arc<Segment>,
    end: u64,
    since_mark: u32,
}

pub struct Log {
    dir: PathBuf,
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    /// seq -> (segment first seq, offset): where reads for later seqs can start.
    marks: RwLock<BTreeMap<u64, (u64, u64)>>,
    last_seq: AtomicU64,
    tail: Mutex<Tail>,
    poisoned: AtomicBool,
    /// (device, inode) of the directory at open: a directory deleted or replaced under
    /// the running log is detected by its next append.
    identity: (u64, u64),
    vanished: AtomicBool,
}

fn dir_identity(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(dir)?;
    Ok((meta.dev(), meta.ino()))
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.log"))
}

fn open_segment(dir: &Path, first_seq: u64) -> io::Result<Segment> {
    let path = segment_path(dir, first_seq);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    let len = file.metadata()?.len();
    Ok(Segment {
        first_seq,
        path,
        file,
        durable_len: AtomicU64::new(len),
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fault::check(Op::Sync, dir)?;
    File::open(dir)?.sync_all()
}

impl Segment {
    /// The log's file operations, each through the fault-injection seam (`fault`).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        fault::check(Op::Read, &self.path)?;
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        fault::check(Op::Write, &self.path)?;
        self.file.write_all_at(bytes, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        fault::check(Op::Sync, &self.path)?;
        self.file.sync_data()
    }

    fn truncate_synced(&self, len: u64) -> io::Result<()> {
        fault::check(Op::Write, &self.path)?;
        self.file.set_len(len)?;
        fault::check(Op::Sync, &self.path)?;
        self.file.sync_all()
    }
}

/// Calls `visit` for each decoded item of `segment` in `[from, end)`, reading in chunks.
/// `visit` gets the item, its offset and the bytes after it in the current chunk. An
/// `Incomplete` item is visited once and ends the scan.
fn scan(
    segment: &Segment,
    from: u64,
    end: u64,
    mut visit: impl FnMut(Decoded, u64, &[u8]) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut offset = from;
    let mut want = CHUNK;
    let mut buf = Vec::new();
    while offset < end {
        let n = ((end - offset) as usize).min(want);
        buf.resize(n, 0);
        segment.read_at(&mut buf, offset)?;
        let at_end = offset + n as u64 == end;
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            let decoded = frame::decode(rest);
            let len = match &decoded {
                Decoded::Frame { len, .. } | Decoded::Corrupt { len } => *len,
                Decoded::Incomplete if !at_end => break,
                Decoded::Incomplete => 0,
            };
            if visit(decoded, offset + at as u64, &rest[len..]).is_break() || len == 0 {
                return Ok(());
            }
            at += len;
        }
        if at == 0 {
            // The first frame is larger than the chunk: read it whole, if it is a frame.
            match frame::declared_len(&buf) {
                Some(need) if need > buf.len() => want = need,
                _ => {
                    let _ = visit(Decoded::Incomplete, offset, &buf);
                    return Ok(());
                }
            }
        }
        offset += at as u64;
    }
    Ok(())
}

/// Whether, from the frame at `offset`, the chain of frame lengths reaches a whole,
/// valid frame before `end`: then what lies between was torn by an in-place zeroing.
fn valid_frame_follows(segment: &Segment, mut offset: u64, end: u64) -> bool {
    loop {
        let Ok(Some(bytes)) = frame_bytes_at(segment, offset, end) else {
            return false;
        };
        match frame::decode(&bytes) {
            Decoded::Frame { .. } => return true,
            Decoded::Corrupt { len } => offset += len as u64,
            Decoded::Incomplete => return false,
        }
    }
}

/// The bytes of the whole frame that starts at `offset`, if its declared length is
/// plausible and it ends by `end`.
fn frame_bytes_at(segment: &Segment, offset: u64, end: u64) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; frame::HEADER];
    if offset + frame::HEADER as u64 > end {
        return Ok(None);
    }
    segment.read_at(&mut header, offset)?;
    let Some(need) = frame::declared_len(&header) else {
        return Ok(None);
    };
    if offset + need as u64 > end {
        return Ok(None);
    }
    let mut bytes = vec![0; need];
    segment.read_at(&mut bytes, offset)?;
    Ok(Some(bytes))
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering as described above. `visit` sees
    /// every valid frame in order, so the caller can rebuild its in-memory state.
    pub fn open(dir: &Path, mut visit: impl FnMut(&Frame)) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut segments = BTreeMap::new();
        let mut marks = BTreeMap::new();
        let mut last_seq = 0;
        let mut since_mark = MARK_EVERY;
        for (position, first) in firsts.iter().enumerate() {
            let is_last = position + 1 == firsts.len();
            // A segment ends where the next one begins: frames at or past the next
            // segment's first seq are a group whose write or sync failed, cut off.
            let next_first = firsts.get(position + 1).copied().unwrap_or(u64::MAX);
            let segment = open_segment(dir, *first)?;
            let len = segment.durable_len.load(Ordering::Relaxed);
            let mut good_end = 0;
            let mut cut_off = false;
            scan(&segment, 0, len, |decoded, offset, _| match decoded {
                Decoded::Frame { frame, .. } if frame.seq >= next_first => {
                    cut_off = true;
                    ControlFlow::Break(())
                }
                Decoded::Frame { frame, len } => {
                    if since_mark >= MARK_EVERY || offset == 0 {
                        marks.insert(frame.seq, (*first, offset));
                        since_mark = 0;
                    }
                    since_mark += 1;
                    last_seq = frame.seq;
                    visit(&frame);
                    good_end = offset + len as u64;
                    ControlFlow::Continue(())
                }
                Decoded::Corrupt { len: torn } if valid_frame_follows(&segment, offset, len) => {
                    good_end = offset + torn as u64;
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Break(()),
            })?;
            if cut_off {
                tracing::warn!(
                    segment = first,
                    at = good_end,
                    "event log segment ends in a group whose write failed; cut off there (left on disk, never read)"
                );
                segment.durable_len.store(good_end, Ordering::Relaxed);
            } else if good_end < len && !is_last {
                tracing::error!(
                    segment = first,
                    at = good_end,
                    "event log segment is damaged past this offset; left as it is"
                );
            } else if good_end < len {
                tracing::warn!(
                    segment = first,
                    kept = good_end,
                    dropped = len - good_end,
                    "truncating a torn tail of the event log"
                );
                segment.truncate_synced(good_end)?;
                segment.durable_len.store(good_end, Ordering::Relaxed);
            }
            segments.insert(*first, Arc::new(segment));
        }
        let active = match segments.values().next_back() {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(open_segment(dir, last_seq + 1)?);
                sync_dir(dir)?;
                segments.insert(s.first_seq, s.clone());
                s
            }
        };
        let end = active.durable_len.load(Ordering::Relaxed);
        Ok(Self {
            dir: dir.to_owned(),
            segments: RwLock::new(segments),
            marks: RwLock::new(marks),
            last_seq: AtomicU64::new(last_seq),
            tail: Mutex::new(Tail {
                segment: active,
                end,
                since_mark,
            }),
            poisoned: AtomicBool::new(false),
            identity: dir_identity(dir)?,
            vanished: AtomicBool::new(false),
        })
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Appends encoded frames (`seqs[i]` starts at `offsets[i]` of `bytes`) and returns
    /// once they are durable. Seqs must continue from `last_seq`.
    pub fn append(&self, bytes: &[u8], frames: &[(u64, usize)]) -> io::Result<()> {
        let Some(&(first_seq, _)) = frames.first() else {
            return Ok(());
        };
        let mut tail = self.tail.lock().unwrap();
        self.check_dir()?;
        if self.poisoned.load(Ordering::Acquire) {
            self.recover_tail(&mut tail)?;
        }
        if tail.end >= SEGMENT_BYTES {
            let segment = Arc::new(open_segment(&self.dir, first_seq)?);
            sync_dir(&self.dir)?;
            self.segments
                .write()
                .unwrap()
                .insert(first_seq, segment.clone());
            *tail = Tail {
                segment,
                end: 0,
                since_mark: MARK_EVERY,
            };
        }
        // After a failed fsync the kernel may have dropped the dirty pages.
        self.poison_on_error(
            tail.segment
                .write_at(bytes, tail.end)
                .and_then(|()| tail.segment.sync_data()),
        )?;
        {
            let mut marks = self.marks.write().unwrap();
            for &(seq, offset) in frames {
                if tail.since_mark >= MARK_EVERY {
                    marks.insert(seq, (tail.segment.first_seq, tail.end + offset as u64));
                    tail.since_mark = 0;
                }
                tail.since_mark += 1;
            }
        }
        tail.end += bytes.len() as u64;
        tail.segment.durable_len.store(tail.end, Ordering::Release);
        self.last_seq
            .store(frames.last().expect("non-empty").0, Ordering::Release);
        Ok(())
    }

    /// Walks durable frames from the last mark at or before `seq` onward, across
    /// segments, until `visit` breaks or the durable end is reached.
    fn walk(
        &self,
        seq: u64,
        mut visit: impl FnMut(&Arc<Segment>, Decoded, u64) -> ControlFlow<()>,
    ) -> io::Result<()> {
        let (start_segment, mut offset) = self
            .marks
            .read()
            .unwrap()
            .range(..=seq)
            .next_back()
            .map_or((0, 0), |(_, pos)| *pos);
        let segments: Vec<Arc<Segment>> = self
            .segments
            .read()
            .unwrap()
            .range(start_segment..)
            .map(|(_, s)| s.clone())
            .collect();
        for segment in &segments {
            let end = segment.durable_len.load(Ordering::Acquire);
            let mut stopped = false;
            scan(segment, offset, end, |decoded, at, _| {
                let flow = visit(segment, decoded, at);
                stopped = flow.is_break();
                flow
            })?;
            if stopped {
                break;
            }
            offset = 0;
        }
        Ok(())
    }

    /// Calls `visit` on each durable frame with seq greater than `after`, in order, with
    /// the first seq of its segment, until it breaks. Frames torn by a concurrent
    /// deletion are skipped.
    pub fn read_after(
        &self,
        after: u64,
        mut visit: impl FnMut(&Frame, u64) -> ControlFlow<()>,
    ) -> io::Result<()> {
        self.read_after_at(after, |frame, segment, _| visit(frame, segment))
    }

    /// Like `read_after`, also giving each frame's offset in its segment, so that it can
    /// be read again with `read_frame_at`.
    pub fn read_after_at(
        &self,
        after: u64,
        mut visit: impl FnMut(&Frame, u64, u64) -> ControlFlow<()>,
    ) -> io::Result<()> {
        let last = self.last_seq();
        if after >= last {
            return Ok(());
        }
        self.walk(after + 1, |segment, decoded, at| match decoded {
            Decoded::Frame { frame, .. } if frame.seq > last => ControlFlow::Break(()),
            Decoded::Frame { frame, .. } if frame.seq > after => {
                visit(&frame, segment.first_seq, at)
            }
            Decoded::Incomplete => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
    }

    /// Reads the durable frame at `offset` of `segment` and calls `visit` with it; `None`
    /// if there is no intact frame there (a frame torn by a deletion, or no such segment).
    pub fn read_frame_at<T>(
        &self,
        segment: u64,
        offset: u64,
        visit: impl FnOnce(&Frame) -> T,
    ) -> io::Result<Option<T>> {
        let Some(segment) = self.segments.read().unwrap().get(&segment).cloned() else {
            return Ok(None);
        };
        let end = segment.durable_len.load(Ordering::Acquire);
        let Some(bytes) = frame_bytes_at(&segment, offset, end)? else {
            return Ok(None);
        };
        Ok(match frame::decode(&bytes) {
            Decoded::Frame { frame, .. } => Some(visit(&frame)),
            _ => None,
        })
    }

    /// Calls `visit` with every durable, intact frame of one segment and its offset.
    pub fn scan_segment(
        &self,
        first_seq: u64,
        mut visit: impl FnMut(&Frame, u64),
    ) -> io::Result<()> {
        let Some(segment) = self.segments.read().unwrap().get(&first_seq).cloned() else {
            return Ok(());
        };
        let end = segment.durable_len.load(Ordering::Acquire);
        scan(&segment, 0, end, |decoded, at, _| match decoded {
            Decoded::Frame { frame, .. } => {
                visit(&frame, at);
                ControlFlow::Continue(())
            }
            Decoded::Corrupt { .. } => ControlFlow::Continue(()),
            Decoded::Incomplete => ControlFlow::Break(()),
        })
    }

    /// Overwrites a frame in place with one of the same length; durable after
    /// `sync_segments`.
    pub fn rewrite(&self, segment: u64, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let segments = self.segments.read().unwrap();
        let segment = segments
            .get(&segment)
            .ok_or_else(|| io::Error::other(format!("no segment {segment}")))?;
        self.poison_on_error(segment.write_at(bytes, offset))
    }

    /// Fails, for good, once the log directory is gone or is another directory.
    fn check_dir(&self) -> io::Result<()> {
        if !self.vanished.load(Ordering::Acquire) {
            match dir_identity(&self.dir) {
                Ok(id) if id == self.identity => return Ok(()),
                _ => {
                    tracing::error!(dir = %self.dir.display(), "the event log's directory vanished or was replaced; nothing more is acknowledged");
                    self.vanished.store(true, Ordering::Release);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the event log's directory {} vanished or was replaced; restart the collector on its data dir",
                self.dir.display()
            ),
        ))
    }

    /// After a failed append: cuts the unacknowledged bytes off the tail, moves on to a
    /// fresh segment and checks with a probe that the disk takes writes (the rule is in
    /// the module doc). Ok once appends may go on.
    pub fn recover(&self) -> io::Result<()> {
        let mut tail = self.tail.lock().unwrap();
        self.check_dir()?;
        if self.poisoned.load(Ordering::Acquire) {
            self.recover_tail(&mut tail)?;
        }
        Ok(())
    }

    fn recover_tail(&self, tail: &mut Tail) -> io::Result<()> {
        // The failed segment is left as it is: never written, truncated or synced
        // again. The new segment starts at the first seq the failed group had, which
        // cuts the group off for readers now and for `open` later.
        let next_first = self.last_seq() + 1;
        if tail.segment.first_seq == next_first {
            // The failed group was the segment's first: no durable frame is in it, so
            // it is replaced by a new file under its name, whose pages have no history.
            match fs::remove_file(segment_path(&self.dir, next_first)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let segment = Arc::new(open_segment(&self.dir, next_first)?);
        sync_dir(&self.dir)?;
        self.segments
            .write()
            .unwrap()
            .insert(next_first, segment.clone());
        *tail = Tail {
            segment,
            end: 0,
            since_mark: MARK_EVERY,
        };
        let probe = self.dir.join("probe.tmp");
        let written = fault::check(Op::Write, &probe)
            .and_then(|()| File::create(&probe))
            .and_then(|mut f| {
                io::Write::write_all(&mut f, &[0u8; PROBE_BYTES])?;
                fault::check(Op::Sync, &probe)?;
                f.sync_all()
            });
        let _ = fs::remove_file(&probe);
        written?;
        self.poisoned.store(false, Ordering::Release);
        tracing::warn!(
            segment = next_first,
            "event log writable again after a failed write; appends go on in a new segment"
        );
        Ok(())
    }

    /// After a failed write or sync, what is on disk past the durable end is unknown:
    /// nothing more is acknowledged until `recover` has cut it off.
    fn poison_on_error<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if result.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire) || self.vanished.load(Ordering::Acquire)
    }

    /// First seqs of all segments, oldest first.
    pub fn segment_ids(&self) -> Vec<u64> {
        self.segments.read().unwrap().keys().copied().collect()
    }

    /// fdatasync of the given segments (by first seq), after in-place rewrites.
    pub fn sync_segments(&self, first_seqs: &[u64]) -> io::Result<()> {
        let segments: Vec<Arc<Segment>> = {
            let all = self.segments.read().unwrap();
            first_seqs
                .iter()
                .filter_map(|s| all.get(s).cloned())
                .collect()
        };
        for segment in segments {
            self.poison_on_error(segment.sync_data())?;
        }
        Ok(())
    }
}
