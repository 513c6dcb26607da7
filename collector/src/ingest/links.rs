//! Which identity links an event creates. Deleting a user deletes everything linked to
//! it, so a link must never reach another person's data:
//!
//! - any event with both ids ties its anonymousId to its userId (Segment's identity
//!   model); the store caps how many anonymous ids one user may gather;
//! - an alias links its previousId to its userId only when it comes from a server write
//!   key; from a client key (public, in pages and apps) only when the previousId is the
//!   event's own anonymousId, which the first rule already ties;
//! - a server alias's previousId may be an earlier user id or an anonymous id: both of
//!   its identities are linked (the second only when it was not hashed on the device).

use cairn_protocol::Kind;

use crate::{keys::WriteKey, privacy::Identity};

/// An event's ids: as sent where the rules compare them, as identities where linked.
pub struct EventIds<'a> {
    pub user: Option<Identity>,
    pub anonymous_id: Option<&'a str>,
    pub anonymous: Option<Identity>,
    pub previous_id: Option<&'a str>,
    /// The previousId's identity as a user id.
    pub previous: Option<Identity>,
    /// The previousId's identity as an anonymous id; `None` when it was device-hashed.
    pub previous_as_anonymous: Option<Identity>,
}

/// The (user, other) links an event creates, and whether an alias link was refused.
pub fn links(kind: Kind, key: &WriteKey, ids: &EventIds) -> (Vec<(Identity, Identity)>, bool) {
    let Some(user) = ids.user else {
        return (Vec::new(), false);
    };
    let mut links: Vec<(Identity, Identity)> =
        ids.anonymous.map(|a| (user, a)).into_iter().collect();
    if kind != Kind::Alias {
        return (links, false);
    }
    if !key.server {
        let own = ids.previous_id.is_some() && ids.previous_id == ids.anonymous_id;
        return (links, !own);
    }
    for other in [ids.previous, ids.previous_as_anonymous]
        .into_iter()
        .flatten()
    {
        if other != user && !links.contains(&(user, other)) {
            links.push((user, other));
        }
    }
    (links, false)
}
