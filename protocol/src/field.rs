//! Names of the fields Cairn adds to Segment's format. Segment's own fields keep
//! Segment's names; Cairn's additions live in `context`, so Segment-compatible
//! receivers ignore them.

/// `context.sessionId`: the SDK's session (rotated after 30 minutes idle).
pub const SESSION_ID: &str = "sessionId";
/// `context.consent`: the [`crate::Consent`] state when the event was tracked.
pub const CONSENT: &str = "consent";
/// `context.purpose`: the one purpose the event needs.
pub const PURPOSE: &str = "purpose";
/// `context.dropped`: [`crate::Dropped`] counters, on the first event of a batch.
pub const DROPPED: &str = "dropped";
/// `context.hashed`: the fields the SDK hashed under the project hash key, as paths
/// (see [`crate::identity::HashedField`]). Fields not listed are raw.
pub const HASHED: &str = "hashed";
/// `context.purpose` of the consent record ([`crate::events::CONSENT_CHANGED`]): it is
/// needed by no purpose, it *is* the user's choice.
pub const CONSENT_RECORD_PURPOSE: &str = "consent";
