//! Size limits (Segment's published ones unless there is a reason to differ). The
//! SDKs split and refuse by them; the collector enforces them.

/// Largest event, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Largest batch body, uncompressed.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Largest batch a browser sends: fetch keepalive and sendBeacon refuse bodies over 64 KiB.
pub const MAX_BROWSER_BATCH_BYTES: usize = 60_000;
/// Most events the SDKs put in one batch.
pub const MAX_BATCH_EVENTS: usize = 100;
/// Longest messageId, in bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 256;
/// Longest id (userId, anonymousId, previousId, groupId) and event name, in characters.
pub const MAX_ID_CHARS: usize = 1024;
/// Deepest nesting of objects and arrays inside one event.
pub const MAX_DEPTH: usize = 32;
/// Anonymous ids that may be tied to one user id by client keys; links past it are
/// refused (the event is kept). Segment's identity resolution caps anonymous ids per
/// profile too; 1,000 covers a person clearing cookies every day for almost three
/// years while keeping one forged identity from growing without bound.
pub const MAX_ANONYMOUS_IDS_PER_USER: usize = 1_000;
