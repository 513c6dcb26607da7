//! The store behind the collector: an append-only, deduplicating log of feed records with
//! an identity index for deletion. It is a trait so another engine (or a Kafka forwarder)
//! can replace the default one without touching ingest.

mod dedup;
mod deletion;
pub mod fault;
mod frame;
#[doc(hidden)]
pub mod fuzz;
mod index;
mod lock;
mod log;
mod log_store;

use std::sync::Arc;

pub use lock::DataDirLock;
pub use log_store::LogStore;

use crate::{privacy::Identity, CollectorError};

/// How the identity index treats ties of anonymous ids to a user.
#[derive(Clone)]
pub struct LinkPolicy {
    /// Anonymous ids one user may gather; ties past it are not indexed.
    pub max_anonymous_per_user: usize,
    /// Counts the ties refused by the cap.
    pub refused: prometheus::IntCounter,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            max_anonymous_per_user: cairn_protocol::limits::MAX_ANONYMOUS_IDS_PER_USER,
            refused: prometheus::IntCounter::new("links_refused", "unregistered").expect("name"),
        }
    }
}

/// One validated, enriched event, ready to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Write key id followed by the messageId: the deduplication key.
    pub dedup_key: Vec<u8>,
    pub message_id: String,
    /// The name of the write key's source, which the feed record carries.
    pub source: Arc<str>,
    /// The hashed userId, if any: deleting that user deletes the event.
    pub user: Option<Identity>,
    /// The hashed anonymousId, if any: an event without a user is deleted with the user
    /// its anonymousId is tied to.
    pub anonymous: Option<Identity>,
    /// (user, other) pairs tying an anonymousId or an alias's previousId to a user. A
    /// pair whose other is the event's `anonymous` is an anonymous tie, which the index
    /// caps per user.
    pub links: Vec<(Identity, Identity)>,
    /// The stored event JSON.
    pub json: Vec<u8>,
    pub received_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored { cursor: u64 },
    Duplicate,
}

/// What deleting a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    pub deleted_events: u64,
    /// The cursor of the (first) tombstone record.
    pub tombstone_cursor: u64,
    /// Tombstone records written: one unless the identities fill more than one frame.
    pub tombstones: u64,
}

/// A deletion whose tombstones are durable and whose events the feed no longer shows,
/// but whose frames are not zeroed yet (`EventStore::finish_deletion`).
#[derive(Debug)]
pub struct PendingDeletion {
    first_tombstone: u64,
    last_tombstone: u64,
    positions: Vec<(u64, u64, u64)>,
}

/// A deletion request: the user's identity and how the tombstone names it.
#[derive(Debug, Clone)]
pub struct DeleteUser {
    pub identity: Identity,
    /// The userId as stored in events (hashed when pseudonymising).
    pub stored_user_id: String,
    pub deleted_at: String,
}

/// What the first, concurrent phase of a deletion found: the positions of the user's
/// event frames up to a snapshot of the log (positions only, never the bytes), and the
/// identities they were matched against. `EventStore::delete_found` finishes the deletion
/// from it on the writer.
#[derive(Debug, Clone, Default)]
pub struct FoundEvents {
    /// Newest cursor when the search started: frames after it were not looked at.
    snapshot: u64,
    /// The identities tied to the user at `snapshot`.
    identities: Vec<Identity>,
    /// (seq, segment, offset) of each matching event frame with seq <= `snapshot`.
    positions: Vec<(u64, u64, u64)>,
}

impl FoundEvents {
    /// How many event frames the search found.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

pub trait EventStore: Send + Sync + 'static {
    /// Appends events, skipping those whose dedup key is known, and returns only once all
    /// of them are durable. All or nothing: after a crash either every record of the
    /// call is there or none is.
    fn append(&self, events: &[NewEvent]) -> Result<Vec<Outcome>, CollectorError>;

    /// Feed lines (without newline) with cursor greater than `after`: up to `limit` of
    /// them, stopping once they reach `max_bytes`.
    fn read(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, CollectorError>;

    /// Removes every event of the user and of identities linked to it, appends a
    /// tombstone record, and returns once durable: `find_user_events`, `delete_found`,
    /// then `finish_deletion`.
    fn delete_user(&self, request: &DeleteUser) -> Result<Deletion, CollectorError> {
        let found = self.find_user_events(request.identity)?;
        let pending = self.delete_found(request, found)?;
        self.finish_deletion(pending)
    }

    /// The first phase of a deletion, which may run concurrently with appends (off the
    /// writer): finds where the user's events are, up to the current end of the log.
    /// Changes nothing.
    fn find_user_events(&self, identity: Identity) -> Result<FoundEvents, CollectorError>;

    /// The second phase, on the writer: adds what was appended (or linked to the user)
    /// since `found` was taken, appends the tombstones durably and hides the events from
    /// the feed. Its cost does not grow with the user's events.
    fn delete_found(
        &self,
        request: &DeleteUser,
        found: FoundEvents,
    ) -> Result<PendingDeletion, CollectorError>;

    /// The third phase, beside ingest: overwrites the events' frames and returns once
    /// that is durable. Deletions must finish in the order they were made pending.
    fn finish_deletion(&self, pending: PendingDeletion) -> Result<Deletion, CollectorError>;

    /// Cursor of the newest durable record (0 when empty).
    fn last_cursor(&self) -> u64;

    /// Forgets dedup keys received before `before_ms`; returns how many.
    fn expire_dedup(&self, before_ms: u64) -> Result<usize, CollectorError>;

    /// False once the store can acknowledge nothing more until a restart (a failed
    /// fsync): readiness probes report it so traffic goes elsewhere.
    fn healthy(&self) -> bool;
}

#[cfg(test)]
mod tests;
