//! # cairn-mobile
//!
//! The Cairn SDK for Android, iOS (and any language UniFFI speaks: Kotlin, Swift,
//! Python) over the same Rust core as every other platform. One [`Tracker`] per
//! app: it owns the persistent queue (a [`cairn::SledStore`] under `dataDir`, its
//! cache capped for phones) and a small tokio runtime whose one worker thread
//! (`cairn-upload`) runs the sdk's native upload loop. Every call from the app only
//! touches the engine and the on-device queue; none waits for the network.
//!
//! Properties and traits cross the boundary as a JSON object in a string (see the
//! README for why); the seed events have typed constructors in [`SeedEvent`].
//! Every error is a [`CairnError`]; a panic inside a synchronous call is caught
//! and returned as [`CairnError::Internal`] (in the async calls and
//! `cairn_version`, UniFFI's scaffolding catches it), never unwound into the app.

// One module per kind of thing; each says why it exists. The exported names are all
// re-exported here, so the public API (and the generated bindings) stay flat.
mod args;
mod config;
mod consent;
mod error;
mod events;
mod seed_event;
#[cfg(test)]
mod seed_event_tests;
mod tracker;

pub use config::{DeviceContext, TrackerConfig};
pub use consent::{ConsentMode, ConsentState, Purpose};
pub use error::CairnError;
pub use events::TrackResult;
pub use seed_event::{LineItem, LinkType, SeedEvent, SortOrder};
pub use tracker::Tracker;

uniffi::setup_scaffolding!();

/// The version of the library (and of the bindings generated from it).
#[uniffi::export]
pub fn cairn_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
