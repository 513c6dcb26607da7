//! # cairn-mobile
//!
//! The Cairn SDK for Android, iOS (and any language UniFFI speaks: Kotlin, Swift,
//! Python) over the same Rust core as every other platform. One [`Tracker`] per
//! app: the engine and its persistent queue (a [`cairn::SledStore`] under `dataDir`,
//! its cache capped for phones) live on the core's dispatcher thread, and uploads are
//! performed by the platform's own HTTP stack through the foreign [`HttpUploader`]
//! (Glean's model): no tokio, reqwest or rustls in this library. Every call hands its
//! work over and returns; none syncs the disk or waits for the network.
//!
//! Properties and traits cross the boundary as a JSON object in a string; the written
//! layers (`kotlin/`, `swift/`, `python/`) take the platform's maps and encode them.
//! The seed events have typed constructors in [`SeedEvent`].
//! Every error is a [`CairnError`]; a panic inside a synchronous call is caught
//! and returned as [`CairnError::Internal`] (in the async calls and
//! `cairn_version`, UniFFI's scaffolding catches it), never unwound into the app.

// One module per kind of thing; each says why it exists. The exported names are all
// re-exported here, so the public API (and the generated bindings) stay flat.
mod args;
mod config;
mod consent;
mod error;
mod seed_event;
#[cfg(test)]
mod seed_event_tests;
mod tracker;
#[cfg(test)]
mod tracker_tests;
mod uploader;

pub use config::{DeviceContext, TrackerConfig};
pub use consent::{ConsentMode, ConsentState, Purpose};
pub use error::CairnError;
pub use seed_event::{LineItem, LinkType, SeedEvent, SortOrder};
pub use tracker::{TrackCall, TrackEventCall, Tracker};
pub use uploader::{HttpUploader, UploadRequest, UploadResult};

uniffi::setup_scaffolding!();

/// The version of the library (and of the bindings generated from it).
#[uniffi::export]
pub fn cairn_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Checks a typed event's values (ranges, non-empty ids) without tracking it: the
/// layers call it at the call so a bad value throws there, then hand the event over.
#[uniffi::export]
pub fn check_seed_event(event: SeedEvent) -> Result<(), CairnError> {
    error::guard(|| event.into_event().map(drop))
}
