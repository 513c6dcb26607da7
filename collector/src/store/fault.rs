//! A fault-injection seam in the event log's file layer, for tests: every write, sync
//! and read of a log file goes through `check` first. Built only with the cargo feature
//! `fault-injection`; without it `check` is an empty inline function, and even with it
//! nothing happens unless the collector was started with `--fault-injection-file PATH`.
//!
//! It is a seam, not a real failing disk: the operation it fails is not attempted, so
//! the kernel's state is that of a disk that refused (for a sync: the bytes may or may
//! not be durable, which is exactly what the log must not assume). Tests arm it by
//! writing `OP COUNT [after SKIP]` lines (`write 1`, `sync 3`, `read 1`, `sync 1 after 1`;
//! `clear` forgets what is pending) to PATH, whole (written aside, then renamed); the
//! next operation takes the file (reads and removes it), and after SKIP more operations
//! of each OP succeed, the next COUNT fail with EIO. Every write and sync the log makes while armed is appended to
//! `PATH.trace` as `OP FILE-NAME ok|EIO`, so a test can see which files were synced
//! after a failure.

/// A file operation the seam can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Write,
    /// fsync or fdatasync.
    Sync,
    Read,
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn check(_op: Op, _file: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(feature = "fault-injection")]
pub use armed::{arm, check};

#[cfg(feature = "fault-injection")]
mod armed {
    use std::{
        fs::{self, OpenOptions},
        io::{self, Write},
        path::{Path, PathBuf},
        sync::{Mutex, OnceLock},
    };

    use super::Op;

    struct Control {
        file: PathBuf,
        /// (operations to let pass, then failures to inject): write, sync, read.
        pending: Mutex<[(u32, u32); 3]>,
    }

    static CONTROL: OnceLock<Control> = OnceLock::new();

    /// Arms the seam: `file` is read for faults from now on.
    pub fn arm(file: &Path) {
        let _ = CONTROL.set(Control {
            file: file.to_owned(),
            pending: Mutex::new([(0, 0); 3]),
        });
        tracing::warn!(file = %file.display(), "fault injection armed (a test seam)");
    }

    fn slot(op: Op) -> usize {
        match op {
            Op::Write => 0,
            Op::Sync => 1,
            Op::Read => 2,
        }
    }

    pub fn check(op: Op, file: &Path) -> io::Result<()> {
        let Some(control) = CONTROL.get() else {
            return Ok(());
        };
        let mut pending = control.pending.lock().unwrap();
        if let Ok(text) = fs::read_to_string(&control.file) {
            let _ = fs::remove_file(&control.file);
            for line in text.lines() {
                let mut words = line.split_whitespace();
                let op = match words.next() {
                    Some("clear") => {
                        *pending = [(0, 0); 3];
                        continue;
                    }
                    Some("write") => Op::Write,
                    Some("sync") => Op::Sync,
                    Some("read") => Op::Read,
                    _ => continue,
                };
                let count: u32 = words.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                let skip: u32 = match (words.next(), words.next()) {
                    (Some("after"), Some(n)) => n.parse().unwrap_or(0),
                    _ => 0,
                };
                pending[slot(op)] = (skip, count);
            }
        }
        let (skip, count) = &mut pending[slot(op)];
        let fail = if *skip > 0 {
            *skip -= 1;
            false
        } else if *count > 0 {
            *count -= 1;
            true
        } else {
            false
        };
        if op != Op::Read {
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let verb = if op == Op::Write { "write" } else { "sync" };
            let outcome = if fail { "EIO" } else { "ok" };
            let mut trace = control.file.clone().into_os_string();
            trace.push(".trace");
            if let Ok(mut t) = OpenOptions::new().create(true).append(true).open(trace) {
                let _ = writeln!(t, "{verb} {name} {outcome}");
            }
        }
        if fail {
            tracing::warn!(?op, file = %file.display(), "injected EIO (fault-injection seam)");
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}
