//! # The Cairn protocol
//!
//! The one definition of what crosses the wire between Cairn's SDKs, the collector
//! and what consumes the feed. Every crate takes its names, limits and rules from
//! here, so no wire name or limit is written twice:
//!
//! - [`Kind`]: Segment's message types, and which fields each carries;
//! - [`Purpose`] and [`Consent`]: the consent purposes and the state sent with events;
//! - [`limits`] and [`field`]: size limits and the names of Cairn's context fields;
//! - [`identity`]: contact traits, their one normalisation, and the hashing scheme
//!   that gives one person one pseudonym on every platform;
//! - [`Dropped`]: the device's drop counters;
//! - [`feed`]: the feed record (also the Kafka message shape);
//! - [`events`]: the event table from which each platform's typed helpers,
//!   the JSON Schemas and the reference page are generated.
//!
//! No dependencies but optional serde: it builds for wasm32 as it is.

pub mod events;
pub mod feed;
pub mod field;
pub mod identity;
mod kind;
pub mod limits;
mod purpose;
pub mod sha256;

pub use events::{EventSpec, Field, FieldType, Signal, EVENTS};
pub use kind::Kind;
pub use purpose::{Consent, Dropped, Purpose};
