//! What a track call gets back: [`TrackResult`] from the core's [`Tracked`]. The
//! typed events themselves ([`crate::SeedEvent`]) are generated into `seed_event.rs`.

use cairn::Tracked;

/// What happened to a tracked event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TrackResult {
    /// Queued on the device for upload.
    Queued,
    /// Discarded: its purpose is not consented to. Nothing was stored.
    NoConsent,
}

impl From<Tracked> for TrackResult {
    fn from(t: Tracked) -> Self {
        match t {
            Tracked::Queued => TrackResult::Queued,
            Tracked::NoConsent(_) => TrackResult::NoConsent,
        }
    }
}
