//! The one error type every exported call returns, and the two ways errors reach it:
//! the core's [`cairn::Error`] mapped variant by variant, and a caught panic. Kept apart
//! so the exception a foreign caller sees is defined (and documented) in one place.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Everything that can go wrong, as one exception type per language
/// (`CairnException` in Kotlin, `CairnError` in Swift and Python). Each variant
/// carries a readable message.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum CairnError {
    /// The configuration cannot work (e.g. hashing on with an empty hashKey).
    #[error("invalid config: {0}")]
    Config(String),
    /// Properties or traits are not valid JSON.
    #[error("invalid JSON in {what}: {reason}")]
    InvalidJson { what: &'static str, reason: String },
    /// Properties or traits are valid JSON but not an object (`{...}`).
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// An event name, screen name or id is empty.
    #[error("event name or id is empty")]
    EmptyName,
    /// The event is over the per-event limit (32 KB as sent).
    #[error("event is {size} bytes, over the {max} byte limit")]
    EventTooLarge { size: u64, max: u64 },
    /// The on-device queue (sled under dataDir) failed to open, read or write.
    #[error("on-device queue: {0}")]
    Store(String),
    /// An upload attempt failed; the events stay queued and are retried.
    #[error("upload failed (events kept for retry): {0}")]
    Upload(String),
    /// An argument is out of range (a negative count or duration, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A waiting call (flushAwait, shutdown) ran out of time; events stay queued.
    #[error("timed out after {0} ms (events kept for retry)")]
    Timeout(i64),
    /// Too many calls are waiting for the dispatcher thread; this one was dropped.
    #[error("too many calls waiting for the tracker's thread; this one was dropped")]
    Busy,
    /// The tracker has been shut down, or its threads could not start.
    #[error("tracker stopped: {0}")]
    Stopped(String),
    /// A bug in Cairn (a caught panic). Please report it with the message.
    #[error("internal error in cairn-mobile (please report): {0}")]
    Internal(String),
}

impl From<cairn::Error> for CairnError {
    fn from(e: cairn::Error) -> Self {
        use cairn::Error as E;
        match e {
            E::EmptyName => CairnError::EmptyName,
            E::EventTooLarge { size, max } => CairnError::EventTooLarge {
                size: size as u64,
                max: max as u64,
            },
            E::NotAnObject => CairnError::NotAnObject("properties/traits"),
            E::Config(m) => CairnError::Config(m),
            E::Store(m) | E::Corrupt(m) => CairnError::Store(m),
            E::Json(j) => CairnError::InvalidJson {
                what: "event",
                reason: j.to_string(),
            },
            E::Upload(m) => CairnError::Upload(m),
            E::Stopped(m) => CairnError::Stopped(m),
            E::Busy => CairnError::Busy,
            E::Timeout => CairnError::Timeout(0),
        }
    }
}

/// Runs `f`, turning a panic into `CairnError::Internal` so none unwinds into the app.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, CairnError>) -> Result<T, CairnError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(CairnError::Internal(panic_text(p))))
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_catches_panics() {
        let r: Result<(), CairnError> = guard(|| panic!("boom"));
        assert_eq!(
            r.unwrap_err().to_string(),
            "internal error in cairn-mobile (please report): boom"
        );
    }
}
