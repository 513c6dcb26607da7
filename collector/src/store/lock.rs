//! The data dir belongs to one collector at a time. `DataDirLock::acquire` takes an
//! exclusive `flock` on `<data-dir>/lock` before anything else in the dir is read or
//! written, and records the holder's pid there; a second process is refused with the
//! dir and that pid. The kernel drops the lock when the holder exits, even by SIGKILL,
//! so a stale `lock` file never blocks a restart.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
};

use fs2::FileExt;

use crate::CollectorError;

const LOCK_FILE: &str = "lock";

/// Held for the life of the process that owns the data dir.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> Result<Self, CollectorError> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        if file.try_lock_exclusive().is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_owned(),
                pid => format!("another collector (pid {pid})"),
            };
            return Err(CollectorError::Config(format!(
                "the data dir {} is in use by {holder}; one data dir serves one collector",
                data_dir.display()
            )));
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_pid() {
        let dir = std::env::temp_dir().join(format!("cairn-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = DataDirLock::acquire(&dir).unwrap();
        let refused = DataDirLock::acquire(&dir).unwrap_err().to_string();
        assert!(refused.contains(&dir.display().to_string()), "{refused}");
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        DataDirLock::acquire(&dir).expect("free again once dropped");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
