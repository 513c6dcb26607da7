//! The engine: the one state machine every platform runs. It owns consent,
//! identity, sessions and the queue index; it reads time from a `Clock` and
//! persists through a `Store`, and never does network I/O (see `upload.rs` for
//! the Glean-style `next_upload` / `upload_finished` loop).

use crate::backoff::Backoff;
use crate::clock::{ms, Clock};
use crate::config::Config;
use crate::consent::{Consent, Purpose};
use crate::error::Error;
use crate::events::{into_map, Event, EventKind};
use crate::identity::Hasher;
use crate::json;
use crate::message::{Dropped, Kind, Message};
use crate::session::Session;
use crate::store::{EventKey, Store};
use crate::text;
use cairn_protocol::events::CONSENT_CHANGED;
use cairn_protocol::identity::{self, contact_trait};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

// Key-value entries in the store.
pub(crate) const KV_ANONYMOUS_ID: &str = "anonymous_id";
pub(crate) const KV_USER_ID: &str = "user_id";
pub(crate) const KV_CONSENT: &str = "consent";
pub(crate) const KV_SESSION: &str = "session";
pub(crate) const KV_DROPPED: &str = "dropped";

/// Stored event value: a format byte, the 8-byte big-endian enqueue time
/// (epoch ms), then the message JSON without its static context (see message.rs).
pub(crate) const FORMAT: u8 = 1;
/// The format byte of a consent record (kept whatever the consent; see
/// `enqueue_consent_record`).
pub(crate) const FORMAT_RECORD: u8 = 2;
pub(crate) const STAMP: usize = 9;

/// `s.trim().is_empty()`: nothing but Unicode white space (`identity::trim`, the
/// one trim in the web tracker's wasm).
fn blank(s: &str) -> bool {
    identity::trim(s).is_empty()
}

/// What happened to a tracked event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Queued (and persisted) for upload.
    Queued,
    /// Discarded: the user has not consented to this purpose. Nothing was stored.
    NoConsent(Purpose),
}

/// One queued event, as the engine indexes it (the bytes live in the store).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub key: EventKey,
    /// Stored message length in bytes (without the static context; see message.rs).
    pub size: u32,
    /// Enqueue time, epoch ms.
    pub at: i64,
}

/// The sans-IO core. See the crate docs for the loop a driver runs.
pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Arc<dyn Store>,
    hasher: Hasher,
    /// The static context object without its braces, spliced in at upload.
    pub(crate) static_fields: String,
    /// Members added to the `context` of every message enqueued (see
    /// `set_event_context`); empty for none.
    event_context: String,
    consent: Consent,
    anonymous_id: String,
    user_id: Option<String>,
    session: Session,
    uuid_ctx: V7,
    next_seq: u64,
    pub(crate) queue: VecDeque<Entry>,
    pub(crate) queue_bytes: usize,
    pub(crate) in_flight: Option<crate::upload::InFlight>,
    pub(crate) backoff: Backoff,
    pub(crate) retry_at: Option<i64>,
    /// Set by flush()/on_background(): the last seq they cover (see next_upload).
    pub(crate) flush_until: Option<u64>,
    pub(crate) split: Option<crate::upload::Split>,
    pub(crate) dropped: Dropped,
    /// The status (401 or 403) with which the collector last refused the write
    /// key; cleared by the next successful upload.
    pub(crate) key_refused: Option<u16>,
    /// Whether the user has made a consent choice (a stored consent state).
    consent_chosen: bool,
    /// The last page or screen view tracked before analytics was granted, in
    /// memory only (never stored): the landing page is not lost to the banner.
    held_view: Option<HeldView>,
    pub(crate) next_upload_id: u64,
    /// When the oldest write not yet synced happened.
    pub(crate) dirty_since: Option<i64>,
}

impl Engine {
    /// Opens the engine over a store: restores identity, consent, session,
    /// drop counters and the queued events left by an earlier run.
    pub fn new(cfg: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let static_fields = text::static_fields(&cfg.context)?;
        Self::with_static_fields(cfg, static_fields, store, clock)
    }

    /// `new` with the static context given as its JSON members (no braces),
    /// written by the caller instead of from `cfg.context` (the web tracker builds
    /// it in JavaScript). It must be valid JSON members; else `Error::NotAnObject`.
    pub fn with_static_fields(
        cfg: Config,
        static_fields: String,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        check_members(&static_fields)?;
        if cfg.hash_identities && cfg.hash_key.is_empty() {
            return Err(Error::Config(
                "hash_identities is on but hash_key is empty".into(),
            ));
        }
        if cfg.flush_at == 0 || cfg.max_batch_events == 0 {
            return Err(Error::Config(
                "flush_at and max_batch_events must be > 0".into(),
            ));
        }
        let hasher = Hasher::new(cfg.hash_identities.then_some(cfg.hash_key.as_bytes()));
        let now = clock.now_millis();
        let seed = cfg
            .rng_seed
            .unwrap_or_else(|| u64::from_le_bytes(random8()));
        let backoff = Backoff::new(cfg.backoff_base, cfg.backoff_cap, cfg.max_retry_after, seed);

        // Rule: a damaged record never stops the engine from starting. It falls
        // back to a safe value, written back at once: no consent (restore_queue
        // then deletes every stored event), a new session, a new anonymous id.
        // A damaged user id reads as no user (overwritten by identify or reset).
        let stored_anonymous_id = store
            .get(KV_ANONYMOUS_ID)?
            .and_then(|v| String::from_utf8(v).ok())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()));
        let anonymous_id = match stored_anonymous_id {
            Some(id) => id,
            None => {
                let id = uuid_v4();
                store.set(KV_ANONYMOUS_ID, id.as_bytes())?;
                id
            }
        };
        let user_id = store
            .get(KV_USER_ID)?
            .and_then(|v| String::from_utf8(v).ok())
            .filter(|u| !u.is_empty());
        let mut damaged = false;
        let stored_consent = store.get(KV_CONSENT)?;
        let consent_chosen = stored_consent.is_some();
        let consent = match stored_consent.map(|v| text::read_consent(&v)) {
            Some(Some(c)) => c,
            None => crate::consent::initial(cfg.consent_mode),
            Some(None) => {
                damaged = true;
                Consent::none()
            }
        };
        let dropped = match store.get(KV_DROPPED)? {
            Some(v) => text::read_dropped(&v).unwrap_or_default(),
            None => Dropped::default(),
        };
        let mut uuid_ctx = V7::default();
        let session = match store.get(KV_SESSION)?.map(|v| text::read_session(&v)) {
            Some(Some(s)) => s,
            read => {
                damaged |= read.is_some();
                Session::new(uuid_ctx.next(now), now)
            }
        };

        let mut engine = Engine {
            cfg,
            clock,
            store,
            hasher,
            static_fields,
            event_context: String::new(),
            consent,
            anonymous_id,
            user_id,
            session,
            uuid_ctx,
            next_seq: 0,
            queue: VecDeque::new(),
            queue_bytes: 0,
            in_flight: None,
            backoff,
            retry_at: None,
            flush_until: None,
            split: None,
            dropped,
            key_refused: None,
            consent_chosen,
            held_view: None,
            next_upload_id: 1,
            dirty_since: None,
        };
        if damaged {
            engine.write_consent()?;
            engine.sync()?; // writes the session
        }
        engine.restore_queue()?;
        Ok(engine)
    }

    /// Re-reads the queued events from the store, keeping every other state (the
    /// web tracker's way to take in events adopted from a closed tab). With an
    /// upload in flight it does nothing and returns false: call it again after.
    pub fn reload_events(&mut self) -> Result<bool, Error> {
        if self.in_flight.is_some() {
            return Ok(false);
        }
        self.sync()?;
        self.queue.clear();
        self.queue_bytes = 0;
        self.restore_queue()?;
        Ok(true)
    }

    /// Rebuilds the queue index from the store. Rule: stored events whose purpose
    /// the persisted consent does not cover (e.g. after switching the consent
    /// mode, or consent reset after a damaged record) are deleted at start, not
    /// sent; so are unreadable ones.
    fn restore_queue(&mut self) -> Result<(), Error> {
        let now = self.clock.now_millis();
        let mut stale = Vec::new();
        for (key, value) in self.store.load_events()? {
            self.next_seq = self.next_seq.max(key.seq + 1);
            let first = value.first().copied();
            let record = first == Some(FORMAT_RECORD);
            // `get`, not indexing: no panic path (the length is checked here).
            let stamp = value
                .get(1..STAMP)
                .and_then(|s| <[u8; 8]>::try_from(s).ok());
            let readable = first == Some(FORMAT) || record;
            let Some(stamp) = stamp.filter(|_| readable) else {
                stale.push(key);
                continue;
            };
            if !(record || self.consent.allows(key.purpose)) {
                stale.push(key);
                continue;
            }
            // A stamp in the future (a clock stepped back, or damage) counts as now.
            let at = i64::from_be_bytes(stamp).min(now);
            let size = (value.len() - STAMP) as u32;
            self.queue.push_back(Entry { key, size, at });
            self.queue_bytes += size as usize;
        }
        if !stale.is_empty() {
            self.store.remove_events(&stale)?;
            self.store.sync()?;
        }
        Ok(())
    }

    // --- The API (the same words on every platform) ---------------------------

    /// Tracks a custom event. `properties` must be a JSON object or null.
    pub fn track(&mut self, event: &str, properties: Value) -> Result<Tracked, Error> {
        self.track_event(Event::track(event, properties)?)
    }

    /// Tracks a typed event (see `Event`'s seed helpers), page or screen view.
    pub fn track_event(&mut self, e: Event) -> Result<Tracked, Error> {
        let body = serde_json::to_string(&e.properties)?;
        let at = e.timestamp.map(|t| t.timestamp_millis());
        self.enqueue(Outgoing {
            name: Some(&e.name),
            body: Some(&body),
            purpose: Some(e.purpose),
            timestamp: at,
            ..Outgoing::new(kind_of(e.kind))
        })
    }

    /// A track, page or screen call with its properties as JSON object text
    /// (`""` or `"null"`: none), checked but not parsed into values and sent as
    /// written (the web tracker's path; `track_event` writes its properties with
    /// serde_json and takes the same way). Not an object: `Error::NotAnObject`.
    pub fn track_json(
        &mut self,
        kind: EventKind,
        name: &str,
        properties: &str,
        purpose: Purpose,
    ) -> Result<Tracked, Error> {
        let body = json::object(properties)?;
        self.enqueue(Outgoing {
            name: Some(name),
            body: Some(body),
            purpose: Some(purpose),
            ..Outgoing::new(kind_of(kind))
        })
    }

    /// A page view (Segment `page`).
    pub fn page(&mut self, name: &str, properties: Value) -> Result<Tracked, Error> {
        let body = object_text(properties)?;
        self.track_json(EventKind::Page, name, &body, Purpose::Analytics)
    }

    /// A screen view (Segment `screen`).
    pub fn screen(&mut self, name: &str, properties: Value) -> Result<Tracked, Error> {
        let body = object_text(properties)?;
        self.track_json(EventKind::Screen, name, &body, Purpose::Analytics)
    }

    /// Sets the members (JSON text without braces, e.g. `"page":{"path":"/"}`)
    /// added to the `context` of every message enqueued from now on; `""` for
    /// none. The web tracker's page context (URL, referrer, campaign, viewport)
    /// goes this way (not the consent record, which carries the choice only).
    /// Not valid members: `Error::NotAnObject`, nothing changed.
    pub fn set_event_context(&mut self, members: &str) -> Result<(), Error> {
        check_members(members)?;
        members.clone_into(&mut self.event_context);
        Ok(())
    }

    /// Sets the user. The user id and the `email` / `phone` traits are normalised
    /// and hashed (unless hashing is off). The user is remembered even when the
    /// identify message itself is not consented, and left unchanged on an error.
    /// Unlike Segment, the user id is required (an identify with traits only is
    /// refused with `EmptyName`).
    pub fn identify(&mut self, user_id: &str, traits: Value) -> Result<Tracked, Error> {
        if blank(user_id) {
            return Err(Error::EmptyName);
        }
        self.identify_json(user_id, &object_text(traits)?)
    }

    /// `identify` with the traits as JSON object text (see `track_json`).
    pub fn identify_json(&mut self, user_id: &str, traits: &str) -> Result<Tracked, Error> {
        if blank(user_id) {
            return Err(Error::EmptyName);
        }
        let (traits, hashed) = self.hash_contact_traits(json::object(traits)?)?;
        let before = self.user_id.replace(self.hasher.user_id(user_id));
        let sent = self.enqueue(Outgoing {
            body: Some(&traits),
            hashed: &hashed,
            ..Outgoing::new(Kind::Identify)
        });
        self.keep_user_if_sent(before, sent)
    }

    /// Links the current identity (user id, else anonymous id) to `new_user_id`.
    /// The collector accepts a link between two user ids only from a server write
    /// key; from an app it ties the anonymous id to the user.
    pub fn alias(&mut self, new_user_id: &str) -> Result<Tracked, Error> {
        if blank(new_user_id) {
            return Err(Error::EmptyName);
        }
        let previous_is_user = self.user_id.is_some();
        let previous = self
            .user_id
            .clone()
            .unwrap_or_else(|| self.anonymous_id.clone());
        let before = self.user_id.replace(self.hasher.user_id(new_user_id));
        let previous_id = [identity::PREVIOUS_ID.to_owned()];
        let hashed: &[String] = if previous_is_user && self.hasher.enabled() {
            &previous_id
        } else {
            &[]
        };
        let sent = self.enqueue(Outgoing {
            previous_id: Some(&previous),
            hashed,
            ..Outgoing::new(Kind::Alias)
        });
        self.keep_user_if_sent(before, sent)
    }

    /// Associates the user with a group (account, team...). `email` / `phone`
    /// traits are hashed as in `identify`.
    pub fn group(&mut self, group_id: &str, traits: Value) -> Result<Tracked, Error> {
        self.group_json(group_id, &object_text(traits)?)
    }

    /// `group` with the traits as JSON object text (see `track_json`).
    pub fn group_json(&mut self, group_id: &str, traits: &str) -> Result<Tracked, Error> {
        let (traits, hashed) = self.hash_contact_traits(json::object(traits)?)?;
        self.enqueue(Outgoing {
            body: Some(&traits),
            group_id: Some(group_id),
            hashed: &hashed,
            ..Outgoing::new(Kind::Group)
        })
    }

    /// Logs out: a new anonymous id, no user, a new session. Queued events keep
    /// the identity they were tracked with.
    pub fn reset(&mut self) -> Result<(), Error> {
        let now = self.clock.now_millis();
        self.anonymous_id = uuid_v4();
        self.store
            .set(KV_ANONYMOUS_ID, self.anonymous_id.as_bytes())?;
        self.store.set(KV_USER_ID, b"")?; // empty means none
        self.user_id = None;
        self.held_view = None;
        let id = self.uuid_ctx.next(now);
        self.session.rotate(id, now);
        self.mark_dirty(now);
        Ok(())
    }

    /// Replaces the consent state. Revoked purposes have their queued events
    /// deleted from the store (and synced) before this returns.
    ///
    /// Rule: the first choice, and every change after it, queues the consent
    /// record. A page or screen view held from before analytics was granted is
    /// queued after it if analytics is now granted, else dropped.
    pub fn set_consent(&mut self, consent: Consent) -> Result<(), Error> {
        if consent != self.consent || !self.consent_chosen {
            let before = self.consent;
            for p in before.revoked_by(&consent) {
                self.purge_purpose(p)?;
            }
            self.consent = consent;
            self.consent_chosen = true;
            self.write_consent()?;
            self.enqueue_consent_record()?;
        }
        if let Some(v) = self.held_view.take() {
            if self.consent.allows(Purpose::Analytics) {
                let now = std::mem::replace(&mut self.event_context, v.context);
                let queued = self.enqueue(Outgoing {
                    name: v.name.as_deref(),
                    body: Some(&v.body),
                    timestamp: Some(v.at),
                    ..Outgoing::new(v.kind)
                });
                self.event_context = now;
                queued?;
            }
        }
        self.sync()
    }

    /// Rule: every change of consent queues the consent record (`consent_changed`
    /// with the full purpose set), whatever is granted: it is the record of the
    /// choice, so downstream can forget a user for a purpose, and nothing else
    /// rides on it. It is stored under a granted purpose (analytics when none is),
    /// so a later revocation may purge it, but only when a newer record follows.
    fn enqueue_consent_record(&mut self) -> Result<Tracked, Error> {
        let mut props = Vec::with_capacity(64);
        for &p in &PURPOSES_BY_NAME {
            props.push(if props.is_empty() { b'{' } else { b',' });
            text::push_str(&mut props, p.as_str());
            let v: &[u8] = if self.consent.allows(p) {
                b":true"
            } else {
                b":false"
            };
            props.extend_from_slice(v);
        }
        props.push(b'}');
        let props = String::from_utf8(props).unwrap_or_default();
        self.enqueue(Outgoing {
            name: Some(CONSENT_CHANGED),
            body: Some(&props),
            purpose: None,
            ..Outgoing::new(Kind::Track)
        })
    }

    fn write_consent(&self) -> Result<(), Error> {
        let mut v = Vec::with_capacity(64);
        text::write_consent(&mut v, &self.consent);
        self.store.set(KV_CONSENT, &v)
    }

    /// Asks for everything queued to be uploaded now, and makes it durable.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.flush_until = self.last_seq();
        self.sync()
    }

    /// The app came to the foreground: a session idle too long starts anew.
    pub fn on_foreground(&mut self) {
        let now = self.clock.now_millis();
        self.touch_session(now);
        self.mark_dirty(now);
    }

    /// The app went to the background: flush (upload now, durable now).
    pub fn on_background(&mut self) -> Result<(), Error> {
        self.flush()
    }

    /// Writes session and counters, then makes every write durable.
    pub fn sync(&mut self) -> Result<(), Error> {
        let mut v = Vec::with_capacity(80);
        text::write_session(&mut v, &self.session);
        self.store.set(KV_SESSION, &v)?;
        v.clear();
        text::write_dropped(&mut v, &self.dropped);
        self.store.set(KV_DROPPED, &v)?;
        self.store.sync()?;
        self.dirty_since = None;
        Ok(())
    }

    // --- Read-only state ------------------------------------------------------

    pub fn consent(&self) -> Consent {
        self.consent
    }
    pub fn anonymous_id(&self) -> &str {
        &self.anonymous_id
    }
    /// The user id as sent (hashed when hashing is on).
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
    pub fn session_id(&self) -> &str {
        &self.session.id
    }
    /// Events waiting, including those in the upload in flight.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.in_flight.as_ref().map_or(0, |f| f.entries.len())
    }
    /// Drops not yet reported to the collector.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }
    /// Some(401 or 403) while the collector refuses the write key: uploads are
    /// paused and nothing is dropped (fix the key; the queue is kept).
    pub fn key_refused(&self) -> Option<u16> {
        self.key_refused
    }
    /// Consecutive failed upload attempts (0 after a success).
    pub fn failures(&self) -> u32 {
        self.backoff.failures()
    }
    /// While backing off after a failed upload: how long until the next attempt.
    pub fn retry_in(&self) -> Option<std::time::Duration> {
        let wait = self.retry_at? - self.clock.now_millis();
        (wait > 0).then(|| std::time::Duration::from_millis(wait as u64))
    }
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The static context's JSON members, as spliced into every message.
    pub fn static_fields(&self) -> &str {
        &self.static_fields
    }
    /// The members `set_event_context` last set.
    pub fn event_context(&self) -> &str {
        &self.event_context
    }
    /// The highest sequence number given to an event so far (drivers use it to
    /// know when a flush has covered everything tracked before it).
    pub fn last_seq(&self) -> Option<u64> {
        self.next_seq.checked_sub(1)
    }
    /// The lowest sequence number still queued or in flight.
    pub fn oldest_pending_seq(&self) -> Option<u64> {
        let q = self.queue.front().map(|e| e.key.seq);
        let f = self
            .in_flight
            .as_ref()
            .and_then(|f| f.entries.first())
            .map(|e| e.key.seq);
        match (q, f) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // --- Internals --------------------------------------------------------------

    fn enqueue(&mut self, out: Outgoing) -> Result<Tracked, Error> {
        let Outgoing {
            kind,
            name,
            body,
            previous_id,
            group_id,
            purpose,
            timestamp,
            hashed,
        } = out;
        // Rule: a track needs an event name and a group an id; a page or screen
        // may be nameless (as in Segment) and is then sent without `name`.
        let named = name.filter(|n| !blank(n));
        if (kind == Kind::Track && name.is_some() && named.is_none()) || group_id.is_some_and(blank)
        {
            return Err(Error::EmptyName);
        }
        let name = named;
        // Rule: no consent, no queue, no disk (the consent record needs none).
        if let Some(p) = purpose.filter(|p| !self.consent.allows(*p)) {
            if p == Purpose::Analytics && matches!(kind, Kind::Page | Kind::Screen) {
                self.held_view = Some(HeldView {
                    kind,
                    name: name.map(str::to_owned),
                    body: body.unwrap_or("{}").to_owned(),
                    context: self.event_context.clone(),
                    at: timestamp.unwrap_or_else(|| self.clock.now_millis()),
                });
            }
            return Ok(Tracked::NoConsent(p));
        }
        let key_purpose = purpose.unwrap_or_else(|| {
            Purpose::ALL
                .iter()
                .copied()
                .find(|p| self.consent.allows(*p))
                .unwrap_or(Purpose::Analytics)
        });
        let now = self.clock.now_millis();
        self.touch_session(now);
        let message_id = self.uuid_ctx.next(now);
        let mut value = Vec::with_capacity(512);
        value.push(if purpose.is_some() {
            FORMAT
        } else {
            FORMAT_RECORD
        });
        value.extend_from_slice(&now.to_be_bytes());
        Message {
            kind,
            message_id: &message_id,
            anonymous_id: &self.anonymous_id,
            user_id: self.user_id.as_deref(),
            timestamp: timestamp.unwrap_or(now),
            name,
            body,
            previous_id,
            group_id,
            session_id: &self.session.id,
            consent: self.consent,
            purpose,
            // The stored user id is the device hash when hashing is on.
            user_id_hashed: self.user_id.is_some() && self.hasher.enabled(),
            hashed,
            // The consent record carries the choice only (see enqueue_consent_record).
            context: if purpose.is_some() {
                &self.event_context
            } else {
                ""
            },
        }
        .write(&mut value);
        // The event limit applies to the message as sent, static context included;
        // the queue's byte bound to what is stored.
        let size = value.len() - STAMP;
        let wire = size + self.static_extra();
        if wire > self.cfg.max_event_bytes {
            return Err(Error::EventTooLarge {
                size: wire,
                max: self.cfg.max_event_bytes,
            });
        }
        let key = EventKey {
            purpose: key_purpose,
            seq: self.next_seq,
        };
        self.store.put_event(key, &value)?;
        self.next_seq += 1;
        self.queue.push_back(Entry {
            key,
            size: size as u32,
            at: now,
        });
        self.queue_bytes += size;
        self.mark_dirty(now);
        self.enforce_bounds()?;
        Ok(Tracked::Queued)
    }

    /// Rule: the queue (with what is in flight) stays within its count and byte
    /// bounds by dropping the oldest queued events, counted as `overflow`.
    fn enforce_bounds(&mut self) -> Result<(), Error> {
        let (fl_n, fl_b) = self
            .in_flight
            .as_ref()
            .map_or((0, 0), |f| (f.entries.len(), f.bytes));
        let mut evicted = Vec::new();
        while self.queue.len() + fl_n > self.cfg.max_queue_events
            || self.queue_bytes + fl_b > self.cfg.max_queue_bytes
        {
            let Some(e) = self.queue.pop_front() else {
                break;
            };
            self.queue_bytes -= e.size as usize;
            evicted.push(e.key);
        }
        if !evicted.is_empty() {
            self.dropped.overflow += evicted.len() as u64;
            self.store.remove_events(&evicted)?;
        }
        Ok(())
    }

    /// Deletes a purpose's events: queued, in flight (so they are not re-queued), stored.
    fn purge_purpose(&mut self, p: Purpose) -> Result<(), Error> {
        self.store.clear_purpose(p)?;
        // One turn of the queue through pop_front/push_back (kept in order), not
        // `VecDeque::retain`: the web tracker's wasm has those two already.
        for _ in 0..self.queue.len() {
            let Some(e) = self.queue.pop_front() else {
                break;
            };
            if e.key.purpose == p {
                self.queue_bytes -= e.size as usize;
            } else {
                self.queue.push_back(e);
            }
        }
        if let Some(f) = self.in_flight.as_mut() {
            // Rebuilt by push (as `build` fills it), not `Vec::retain`: less code.
            f.bytes = 0;
            for e in std::mem::take(&mut f.entries) {
                if e.key.purpose != p {
                    f.bytes += e.size as usize;
                    f.entries.push(e);
                }
            }
        }
        Ok(())
    }

    /// Rule: traits named `email` / `phone` in any case ("Email", "PHONE") are
    /// personal identifiers. With hashing on, a string is normalised (e-mail:
    /// trimmed, lower-cased; phone: E.164) and hashed, a whole number is hashed
    /// as a phone, null is kept, and any other value (a fraction, a negative
    /// number, a bool, an array, an object) is refused with `NotAnObject`, so no
    /// raw identifier can leave the device inside it. With hashing off traits
    /// go as given.
    /// Returns the traits text to send and the `context.hashed` paths of the
    /// traits it hashed (in the text's member order).
    fn hash_contact_traits(&self, traits: &str) -> Result<(String, Vec<String>), Error> {
        let mut paths = Vec::new();
        if !self.hasher.enabled() {
            return Ok((traits.to_owned(), paths));
        }
        let mut out = Vec::with_capacity(traits.len() + 64);
        for (raw_key, v) in json::members(traits) {
            out.push(if out.is_empty() { b'{' } else { b',' });
            out.extend_from_slice(raw_key.as_bytes());
            out.push(b':');
            // `let else`, not `ok_or`: no `Error` built and dropped per member.
            let Some(key) = json::unescape(raw_key) else {
                return Err(Error::NotAnObject);
            };
            let hashed = match contact_trait(&key) {
                None => None,
                Some(_) if v == "null" => None,
                Some(contact) if v.starts_with('"') => {
                    let Some(s) = json::unescape(v) else {
                        return Err(Error::NotAnObject);
                    };
                    Some(self.hasher.contact(contact, &s))
                }
                // A whole number is a phone (what serde_json's is_u64 accepts),
                // hashed as its decimal digits: the token itself, which `object`
                // checked to be valid JSON (no leading zeros, no sign).
                Some(_) if json::as_u64(v).is_some() => Some(self.hasher.phone(v)),
                Some(_) => return Err(Error::NotAnObject),
            };
            match hashed {
                Some(h) => {
                    text::push_str(&mut out, &h);
                    paths.push([identity::TRAITS_PREFIX, &key].concat());
                }
                None => out.extend_from_slice(v.as_bytes()),
            }
        }
        if out.is_empty() {
            out.push(b'{');
        }
        out.push(b'}');
        Ok((String::from_utf8(out).unwrap_or_default(), paths))
    }

    /// Rule: identify and alias set the new user, then enqueue their message with
    /// it; the user is kept, and persisted, only if that was accepted (queued or
    /// not consented). After an error (e.g. `EventTooLarge`) the user is `before`.
    fn keep_user_if_sent(
        &mut self,
        before: Option<String>,
        sent: Result<Tracked, Error>,
    ) -> Result<Tracked, Error> {
        // The new user (never empty: identify and alias refuse a blank id) is
        // persisted as it is, not cloned.
        let kept = sent.and_then(|t| {
            let user = self.user_id.as_deref().unwrap_or_default();
            self.store.set(KV_USER_ID, user.as_bytes())?;
            Ok(t)
        });
        if kept.is_err() {
            self.user_id = before;
        }
        kept
    }

    /// Rule: more than `session_timeout` without activity starts a new session.
    fn touch_session(&mut self, now: i64) {
        if self.session.expired_at(now, ms(self.cfg.session_timeout)) {
            let id = self.uuid_ctx.next(now);
            self.session.rotate(id, now);
        } else {
            // Activity now; a last activity in the future (the clock stepped back)
            // counts as now too, so the timeout runs from here.
            self.session.last_activity = now;
        }
    }

    /// Bytes the static context adds to each stored message on the wire.
    pub(crate) fn static_extra(&self) -> usize {
        self.static_fields.len() + 1
    }

    pub(crate) fn mark_dirty(&mut self, now: i64) {
        if self.dirty_since.is_none() {
            self.dirty_since = Some(now);
        }
    }
}

/// `Purpose::ALL` in name order: the consent record's keys in the order
/// serde_json's sorted map wrote them (a constant, not a sort, in the web
/// tracker; a test checks it against `ALL`).
const PURPOSES_BY_NAME: [Purpose; 3] = [
    Purpose::Analytics,
    Purpose::Marketing,
    Purpose::Personalization,
];

/// A view held in memory until consent is decided (see `Engine::set_consent`).
struct HeldView {
    kind: Kind,
    name: Option<String>,
    /// Properties (JSON object text).
    body: String,
    /// The event context when it was tracked (see `set_event_context`).
    context: String,
    /// When it was tracked, epoch ms.
    at: i64,
}

/// One message on its way into the queue (what `enqueue` writes).
struct Outgoing<'a> {
    kind: Kind,
    /// `event` of a track, `name` of a page or screen.
    name: Option<&'a str>,
    /// `properties` or `traits`: JSON object text, checked.
    body: Option<&'a str>,
    previous_id: Option<&'a str>,
    group_id: Option<&'a str>,
    /// `None` for the consent record.
    purpose: Option<Purpose>,
    /// When it happened (epoch ms); default now.
    timestamp: Option<i64>,
    /// Fields hashed on the device other than the user id (which `enqueue` adds).
    hashed: &'a [String],
}

impl Outgoing<'_> {
    /// A message of `kind` needing analytics consent, with nothing else set.
    fn new(kind: Kind) -> Self {
        Outgoing {
            kind,
            name: None,
            body: None,
            previous_id: None,
            group_id: None,
            purpose: Some(Purpose::Analytics),
            timestamp: None,
            hashed: &[],
        }
    }
}

fn kind_of(k: EventKind) -> Kind {
    match k {
        EventKind::Track => Kind::Track,
        EventKind::Page => Kind::Page,
        EventKind::Screen => Kind::Screen,
    }
}

/// Properties or traits given as a value: an object or null, as its JSON text.
fn object_text(v: Value) -> Result<String, Error> {
    Ok(serde_json::to_string(&into_map(v)?)?)
}

/// JSON object members without the braces (`""`: none), or `NotAnObject`.
fn check_members(members: &str) -> Result<(), Error> {
    if members.is_empty() || json::valid(&["{", members, "}"].concat()) {
        Ok(())
    } else {
        Err(Error::NotAnObject)
    }
}

/// UUIDv7s (RFC 9562) from the engine clock. Rule: strictly increasing within one
/// engine even when the clock stalls or steps back. After the 48-bit millisecond
/// come a 42-bit counter (rand_a's 12 bits and rand_b's first 30), randomly seeded
/// at each new millisecond and incremented within one (RFC 9562 6.2, method 1),
/// then 32 random bits; a counter that runs out borrows the next millisecond.
#[derive(Debug, Default)]
pub(crate) struct V7 {
    ms: u64,
    counter: u64,
}

impl V7 {
    pub(crate) fn next(&mut self, now_ms: i64) -> String {
        let rand = random16();
        let mut seed = [0u8; 8];
        seed[2..].copy_from_slice(&rand[..6]);
        let seed = u64::from_be_bytes(seed) & ((1 << 41) - 1); // headroom to count up
        let ms = (now_ms.max(0) as u64).min((1 << 48) - 1);
        if ms > self.ms {
            self.ms = ms;
            self.counter = seed;
        } else {
            self.counter += 1;
            if self.counter >> 42 != 0 {
                self.ms += 1; // borrow the next millisecond
                self.counter = seed;
            }
        }
        let c = self.counter;
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&self.ms.to_be_bytes()[2..]);
        b[6] = 0x70 | ((c >> 38) & 0x0f) as u8;
        b[7] = (c >> 30) as u8;
        b[8] = 0x80 | ((c >> 24) & 0x3f) as u8;
        b[9] = (c >> 16) as u8;
        b[10] = (c >> 8) as u8;
        b[11] = c as u8;
        b[12..].copy_from_slice(&rand[12..]);
        uuid_str(&b)
    }
}

/// 16 random bytes: the platform's secure source, through one path per platform.
/// Browsers (the `js` feature on wasm32): `crypto.getRandomValues`, a single import
/// (no uuid or getrandom code in the web tracker); elsewhere uuid's v4 source
/// (getrandom: the OS).
fn random16() -> [u8; 16] {
    #[cfg(all(feature = "js", target_arch = "wasm32"))]
    {
        let mut b = [0u8; 16];
        js::get_random_values(&mut b);
        b
    }
    #[cfg(not(all(feature = "js", target_arch = "wasm32")))]
    {
        uuid::Uuid::new_v4().into_bytes()
    }
}

fn random8() -> [u8; 8] {
    let r = random16();
    [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]
}

#[cfg(all(feature = "js", target_arch = "wasm32"))]
mod js {
    #[link(wasm_import_module = "cairn")]
    extern "C" {
        /// `crypto.getRandomValues` over `len` bytes at `ptr` (the web tracker's
        /// host, wasm/js/wasm.js).
        fn random(ptr: *mut u8, len: usize);
    }

    /// 256 bytes from the browser at a time: a call costs about a microsecond
    /// whatever its length, and every event takes 16 (its v7 id).
    pub fn get_random_values(buf: &mut [u8; 16]) {
        thread_local! {
            static POOL: std::cell::RefCell<([u8; 256], usize)> =
                const { std::cell::RefCell::new(([0; 256], 256)) };
        }
        POOL.with_borrow_mut(|(pool, used)| {
            if *used == pool.len() {
                // Safety: the host writes exactly `pool.len()` bytes into `pool`.
                unsafe { random(pool.as_mut_ptr(), pool.len()) };
                *used = 0;
            }
            buf.copy_from_slice(&pool[*used..*used + 16]);
            *used += 16;
        })
    }
}

/// A random (version 4, RFC 9562) UUID in its hyphenated form.
fn uuid_v4() -> String {
    let mut b = random16();
    b[6] = 0x40 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    uuid_str(&b)
}

/// The hyphenated lower-case form (what uuid's `to_string` gives, without `fmt`
/// and without uuid's generic encoder).
fn uuid_str(u: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn static_context_extra_must_be_json_members() {
        let open = |extra: &str| {
            let mut cfg = Config::new("wk", "http://x");
            cfg.hash_key = "k".into();
            cfg.context.extra = extra.into();
            let store = Arc::new(crate::store::MemoryStore::new());
            Engine::new(cfg, store, Arc::new(crate::clock::ManualClock::new(0)))
        };
        for bad in [r#""referrer":"#, r#"{"a":1}"#, "1", r#""a":1,"#] {
            assert!(matches!(open(bad), Err(Error::NotAnObject)), "{bad}");
        }
        let e = open(r#""referrer":{"url":"https://x/"}"#).unwrap();
        assert!(e
            .static_fields
            .ends_with(r#","referrer":{"url":"https://x/"}"#));
    }

    #[test]
    fn purposes_by_name_are_all_purposes_sorted() {
        let mut all = Purpose::ALL;
        all.sort_by_key(|p| p.as_str());
        assert_eq!(all, PURPOSES_BY_NAME);
    }

    #[test]
    fn uuid_str_is_the_hyphenated_form() {
        for u in [Uuid::nil(), Uuid::max(), Uuid::new_v4(), Uuid::new_v4()] {
            assert_eq!(uuid_str(u.as_bytes()), u.hyphenated().to_string());
        }
        let ids: Vec<String> = (0..100).map(|_| uuid_v4()).collect();
        for id in &ids {
            let u = Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 4);
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(*id, u.hyphenated().to_string());
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn v7_ids_are_valid_and_strictly_increasing() {
        let mut g = V7::default();
        let mut last = String::new();
        // Same millisecond many times, then the clock going back, then forward.
        let times =
            (0..5000)
                .map(|_| 1_762_000_000_123)
                .chain([1_762_000_000_000, 5, 1_762_000_000_124]);
        for t in times {
            let id = g.next(t);
            let u = Uuid::parse_str(&id).unwrap();
            assert_eq!(u.get_version_num(), 7);
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(id, u.hyphenated().to_string());
            assert!(id > last, "{id} after {last}");
            last = id;
        }
        let u = Uuid::parse_str(&g.next(1_762_000_000_999)).unwrap();
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_762_000_000, 999));
        // The counter borrows the next millisecond when it runs out.
        g.counter = (1 << 42) - 1;
        let u = Uuid::parse_str(&g.next(1_762_000_000_999)).unwrap();
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_762_000_001, 0));
        // Fresh generators differ (random seed and tail).
        assert_ne!(V7::default().next(7), V7::default().next(7));
    }
}
