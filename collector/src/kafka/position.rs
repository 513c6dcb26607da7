//! The forwarded position: `<data-dir>/kafka-forwarded` holds the topic and the cursor
//! through which every record is acknowledged by the broker. Written to a temporary
//! file, fsynced and renamed over the old one, so a crash leaves the old or the new
//! position, never a torn one. A different topic starts from the beginning of the log.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use crate::CollectorError;

const FILE: &str = "kafka-forwarded";

pub struct Position {
    path: PathBuf,
    topic: String,
}

impl Position {
    pub fn new(data_dir: &Path, topic: &str) -> Self {
        Self {
            path: data_dir.join(FILE),
            topic: topic.to_owned(),
        }
    }

    /// The persisted cursor for this topic (0 when none).
    pub fn load(&self) -> Result<u64, CollectorError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut lines = text.lines();
        let (topic, cursor) = (lines.next(), lines.next());
        if topic != Some(self.topic.as_str()) {
            tracing::warn!(
                previous = topic.unwrap_or(""),
                topic = %self.topic,
                "kafka topic changed: forwarding the log from its start"
            );
            return Ok(0);
        }
        cursor.and_then(|c| c.parse().ok()).ok_or_else(|| {
            CollectorError::Config(format!("{}: no cursor on line 2", self.path.display()))
        })
    }

    pub fn store(&self, cursor: u64) -> Result<(), CollectorError> {
        let tmp = self.path.with_extension("tmp");
        let mut file = fs::File::create(&tmp)?;
        file.write_all(format!("{}\n{cursor}\n", self.topic).as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        fs::File::open(self.path.parent().unwrap_or(Path::new(".")))?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_topic_change() {
        let dir = std::env::temp_dir().join(format!("cairn-position-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = Position::new(&dir, "events");
        assert_eq!(p.load().unwrap(), 0);
        p.store(42).unwrap();
        assert_eq!(p.load().unwrap(), 42);
        assert_eq!(Position::new(&dir, "other").load().unwrap(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
