//! The crate's one error type: every fallible call in the core and the drivers
//! returns `Result<T, Error>`, so bindings (UniFFI, wasm) map a single enum.

/// Everything that can go wrong in Cairn.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Track event names (and ids for identify/alias/group) must not be empty.
    #[error("event name or id is empty")]
    EmptyName,
    /// A serialised message may not exceed the per-event limit (32 KB).
    #[error("event is {size} bytes, over the {max} byte limit")]
    EventTooLarge { size: usize, max: usize },
    /// Properties and traits must be JSON objects, and `email` / `phone` traits
    /// strings or whole numbers (when hashing is on).
    #[error("properties/traits must be a JSON object, email/phone traits a string or number")]
    NotAnObject,
    /// The configuration cannot work (e.g. hashing on without a key).
    #[error("invalid config: {0}")]
    Config(String),
    /// The store failed to read or write.
    #[error("store: {0}")]
    Store(String),
    /// Data read back from the store could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// JSON encoding failed. (On wasm32 the text names the position only: serde_json's
    /// messages and their formatting are ~1 KB of the web tracker's gzipped wasm.)
    #[cfg_attr(not(target_arch = "wasm32"), error("json: {0}"))]
    #[cfg_attr(
        target_arch = "wasm32",
        error("json: invalid at line {}, column {}", .0.line(), .0.column())
    )]
    Json(#[from] serde_json::Error),
    /// An upload attempt failed (the events stay queued and are retried).
    #[error("upload failed: {0}")]
    Upload(String),
    /// The driver has stopped (after shutdown) or could not start.
    #[error("client stopped: {0}")]
    Stopped(String),
    /// The dispatcher's queue of calls is full; the call was not taken.
    #[error("too many calls waiting for the tracker's thread; call not taken")]
    Busy,
    /// A driver operation ran out of time.
    #[error("timed out")]
    Timeout,
}

#[cfg(feature = "sled")]
impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Store(e.to_string())
    }
}
