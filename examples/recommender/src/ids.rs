//! Identities, derived exactly as the collector derives them, so that what a caller
//! passes meets what the feed holds and what a tombstone names:
//!
//! - a `userId` (raw, as the shop knows it) becomes the collector's stored pseudonym,
//!   `pseudonym(hash secret, ProjectHasher(project hash key).user_id(raw))`;
//! - an anonymous id becomes `hex(HMAC(hash secret, anonymousId))`, the identity the
//!   collector lists in a tombstone for the anonymous ids tied to a user.
//!
//! Neither raw value is kept anywhere; both derivations are one-way.

use cairn_protocol::identity::{pseudonym, ProjectHasher};

#[derive(Clone, Debug)]
pub struct Ids {
    secret: Vec<u8>,
    project: ProjectHasher,
}

impl Ids {
    pub fn new(hash_secret: &str, project_hash_key: &str) -> Self {
        Self {
            secret: hash_secret.as_bytes().to_vec(),
            project: ProjectHasher::new(project_hash_key.as_bytes()),
        }
    }

    /// The stored pseudonym of a raw user id.
    pub fn user(&self, raw: &str) -> String {
        pseudonym(&self.secret, &self.project.user_id(raw))
    }

    /// The identity of an anonymous id (as the tracker generated it).
    pub fn anonymous(&self, anonymous_id: &str) -> String {
        pseudonym(&self.secret, anonymous_id)
    }
}
