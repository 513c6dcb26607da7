//! Sessions: one id per stretch of activity. A new id starts after
//! `session_timeout` without activity (by the engine's clock) and on reset().

use serde::{Deserialize, Serialize};

/// The current session, persisted so a restart inside the timeout keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    /// Epoch millis of the last event or foreground.
    pub last_activity: i64,
}

impl Session {
    pub fn new(id: String, now: i64) -> Self {
        Session {
            id,
            last_activity: now,
        }
    }

    /// True when more than `timeout_ms` passed since the last activity; the
    /// caller then gives the session a new id (`rotate`).
    pub fn expired_at(&self, now: i64, timeout_ms: i64) -> bool {
        now.saturating_sub(self.last_activity) > timeout_ms
    }

    pub fn rotate(&mut self, id: String, now: i64) {
        self.id = id;
        self.last_activity = now;
    }
}
