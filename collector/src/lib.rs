//! Cairn's collector: a Segment-compatible ingest endpoint that acknowledges an event
//! only once it is durable on disk, and a feed that downstream consumers read in commit
//! order. `serve` is the whole server; `app` is its router, for tests and embedding.

pub mod config;
pub mod error;
pub mod http;
pub mod ingest;
pub mod kafka;
pub mod keys;
pub mod metrics;
pub mod privacy;
pub mod store;
pub mod time;
pub mod writer;

pub use config::{Config, Limits};
pub use error::CollectorError;
pub use http::{app, serve, AppState};
pub use time::{SystemClock, TimeSource};
