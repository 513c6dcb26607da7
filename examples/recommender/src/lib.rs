//! Cairn's reference recommender and profile backend.
//!
//! It follows the collector's `GET /v1/feed` (long poll, read key), or, built with the
//! `kafka` feature, reads the topic the collector forwards to as a member of a consumer
//! group (`src/kafka.rs`); it applies each record once to an in-memory model, and serves from
//! that model:
//!
//! - seed 002's `GET /api/recommendations` (weighted, time-decayed signals, item-to-item
//!   co-occurrence, category affinity, popular and category fallbacks);
//! - seed 004's profiles and rule-defined cohorts, updated as events arrive;
//! - seed 001's A/B assignment and per-variant CTR and add-to-cart rate;
//! - a dashboard page.
//!
//! Rules that hold everywhere:
//! - no raw user id is ever kept: a caller's `userId` is turned into the collector's
//!   pseudonym ([`ids::Ids`]), an `anonId` into the identity the collector's tombstones
//!   name, and only those are stored;
//! - only events whose `context.consent.personalization` is true feed a person's
//!   signals; every event the collector accepted may feed aggregate counts;
//! - a tombstone or a revocation of personalization forgets the person at once in
//!   memory and on disk (the shard files holding them are rewritten without them);
//! - the state on disk is a sharded snapshot of the model with its feed cursor,
//!   committed by a manifest: it can always be rebuilt from the feed, and a restart
//!   resumes after the manifest's cursor, so no record is applied twice or missed;
//!   a collector whose feed no longer holds that cursor's record (wiped, replaced)
//!   makes the service rebuild from cursor 0.

pub mod cohorts;
pub mod config;
pub mod error;
pub mod event;
pub mod experiments;
pub mod follower;
pub mod http;
pub mod ids;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod model;
pub mod recommend;
pub mod rules;
pub mod snapshot;
pub mod time;

pub use config::Config;
pub use error::RecoError;
pub use http::{app, serve, AppState};
pub use time::{SystemClock, TimeSource};

/// The model version every response names (the experiment variant is appended).
pub const MODEL_VERSION: &str = "cairn-reco-1";
