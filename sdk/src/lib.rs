//! # Cairn SDK
//!
//! One tracking core for every platform. [`Engine`] is a sans-IO state machine:
//! it owns consent, identity hashing, sessions, batching, the bounded offline
//! queue and retry policy, reads time from a [`Clock`] and persists through a
//! [`Store`], and never does network I/O. A driver runs this loop:
//!
//! ```text
//! loop {
//!     match engine.next_upload()? {
//!         Next::Upload(u) => { let outcome = http_post(&u); engine.upload_finished(u.id, outcome)?; }
//!         Next::Wait(d)   => sleep_until_woken(d),   // woken early by any API call
//!         Next::Idle      => sleep_until_woken(forever),
//!     }
//! }
//! ```
//!
//! Features: `sled` ([`SledStore`]), `native` (a tokio + reqwest [`Client`]),
//! `dispatcher` (a [`Dispatcher`] thread for platforms that bring their own HTTP),
//! `rustls` (HTTPS for the native client with rustls on ring).

mod backoff;
mod clock;
mod config;
mod consent;
mod engine;
mod error;
mod events;
mod identity;
mod json;
mod message;
mod seed_events;
mod session;

mod store;
mod text;
mod upload;

#[cfg(feature = "dispatcher")]
mod dispatcher;
#[cfg(feature = "native")]
mod native;
#[cfg(feature = "sled")]
mod sled_store;

pub use backoff::parse_retry_after;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{App, Config, Device, Library, Os, Screen, StaticContext};
pub use consent::{Consent, ConsentMode, Purpose};
pub use engine::{Engine, Tracked};
pub use error::Error;
pub use events::{Event, EventKind};
pub use identity::{normalize_email, normalize_phone};
pub use message::Dropped;
pub use seed_events::{LineItem, LinkType, SortOrder};
pub use session::Session;
pub use store::{EventKey, MaybeSendSync, MemoryStore, Store};
pub use text::push_u64;
pub use upload::{Next, Outcome, Upload};

#[cfg(feature = "dispatcher")]
pub use dispatcher::{Dispatcher, DispatcherOptions, ErrorListener, Uploader};
#[cfg(feature = "native")]
pub use native::{Client, ClientOptions};
#[cfg(feature = "sled")]
pub use sled_store::{SledConfig, SledStore};

#[cfg(test)]
mod tests;
