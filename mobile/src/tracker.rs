//! The [`Tracker`] object: the engine on the core's [`Dispatcher`] (one
//! `cairn-dispatcher` thread runs every call in order; the platform's
//! [`HttpUploader`] runs on `cairn-uploader`).
//!
//! Rules:
//! - a call checks its arguments on the caller's thread (bad JSON, empty name, a
//!   SeedEvent out of range: the error is thrown at the call), then hands the work
//!   over and returns; no disk sync and no network on the caller's thread;
//! - the engine (sled) is opened on the dispatcher thread; calls made meanwhile wait
//!   in the dispatcher's bounded queue, in order;
//! - an error found later (an event over 32 KB, a store error) is kept
//!   (`lastError`), never thrown into a later, unrelated call;
//! - a batch (`trackMany`, `trackEvents`, one crossing for the Kotlin layer's hand-off)
//!   is its events one by one: the ones that pass the check are handed over in order
//!   in one dispatched call even when others are refused; the first refused at the
//!   check is the call's error, one the engine refuses later is kept as above;
//! - reads (`consent`, `anonymousId`, `queued`) and the waits (`flushAndWait`,
//!   `shutdown`) block until the calls before them have run: not for a UI thread.

use crate::args::{bytes, millis, parse_object};
use crate::config::{build_config, TrackerConfig};
use crate::consent::{ConsentState, Purpose};
use crate::error::{guard, CairnError};
use crate::seed_event::SeedEvent;
use crate::uploader::{Foreign, HttpUploader};
use cairn::{Dispatcher, DispatcherOptions, Engine, Event, SledConfig, SledStore, SystemClock};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Calls waiting for the dispatcher thread at most; past it a call is refused
/// with `CairnError.Busy` (the app's thread is never blocked).
const MAX_PENDING_CALLS: usize = 10_000;

/// One custom event for [`Tracker::track_many`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct TrackCall {
    pub event: String,
    #[uniffi(default = None)]
    pub properties_json: Option<String>,
    #[uniffi(default = None)]
    pub purpose: Option<Purpose>,
}

/// One typed event for [`Tracker::track_events`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct TrackEventCall {
    pub event: SeedEvent,
    #[uniffi(default = None)]
    pub properties_json: Option<String>,
    #[uniffi(default = None)]
    pub purpose: Option<Purpose>,
}

/// One per app (and per dataDir). Thread-safe: call it from any thread.
#[derive(uniffi::Object)]
pub struct Tracker {
    dispatcher: Dispatcher,
    /// Set by the first `on_foreground` (later ones come from the background).
    opened: AtomicBool,
}

impl Tracker {
    fn hand_over(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<(), cairn::Error> + Send + 'static,
    ) -> Result<(), CairnError> {
        Ok(self.dispatcher.dispatch(f)?)
    }

    /// Hands the checked events over in one dispatched call; the first refused at the
    /// check is the error, after the others were handed over.
    fn hand_over_each(&self, events: Vec<Result<Event, CairnError>>) -> Result<(), CairnError> {
        let mut first_err = None;
        let mut ok = Vec::with_capacity(events.len());
        for e in events {
            match e {
                Ok(e) => ok.push(e),
                Err(err) => {
                    first_err.get_or_insert(err);
                }
            }
        }
        if !ok.is_empty() {
            self.hand_over(move |eng| track_all(eng, ok))?;
        }
        first_err.map_or(Ok(()), Err)
    }

    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> Result<T, CairnError> {
        Ok(self.dispatcher.call(f)?)
    }
}

/// A typed event with its extra properties, or the first field out of range.
fn typed(
    event: SeedEvent,
    json: Option<String>,
    purpose: Option<Purpose>,
) -> Result<Event, CairnError> {
    let extra = parse_object("properties", json)?;
    let mut e = event.into_event()?;
    e.properties.extend(extra);
    if let Some(p) = purpose {
        e = e.purpose(p.into());
    }
    Ok(e)
}

/// Runs `events` as one dispatched call; each event is its own track, so one refused
/// does not stop the others (the first error is the call's).
fn track_all(eng: &mut Engine, events: Vec<Event>) -> Result<(), cairn::Error> {
    let mut first_err = None;
    for e in events {
        if let Err(err) = eng.track_event(e) {
            first_err.get_or_insert(err);
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn custom(
    event: String,
    json: Option<String>,
    purpose: Option<Purpose>,
) -> Result<Event, CairnError> {
    empty_checked(&event)?;
    let props = parse_object("properties", json)?;
    let mut e = Event::track(event, Value::Object(props))?;
    if let Some(p) = purpose {
        e = e.purpose(p.into());
    }
    Ok(e)
}

/// A name or id of only blanks is as empty as "" (the layers refuse it the same way).
fn empty_checked(what: &str) -> Result<(), CairnError> {
    if what.trim().is_empty() {
        return Err(CairnError::EmptyName);
    }
    Ok(())
}

#[uniffi::export]
impl Tracker {
    /// Checks the config, then starts the dispatcher thread (which opens the queue
    /// under `config.dataDir`) and the upload thread, which calls `uploader`.
    #[uniffi::constructor]
    pub fn new(
        config: TrackerConfig,
        uploader: Arc<dyn HttpUploader>,
    ) -> Result<Arc<Tracker>, CairnError> {
        guard(|| {
            let cfg = build_config(&config)?;
            let sled = SledConfig {
                path: config.data_dir.clone().into(),
                cache_capacity: bytes("cacheCapacityBytes", config.cache_capacity_bytes)?,
            };
            millis("requestTimeoutMs", config.request_timeout_ms)?;
            let data_dir = config.data_dir.clone();
            let open = move || {
                let store = SledStore::open_with(sled)
                    .map_err(|e| cairn::Error::Store(format!("{e} ({data_dir})")))?;
                Engine::new(cfg, Arc::new(store), Arc::new(SystemClock))
            };
            let uploader = Arc::new(Foreign {
                inner: uploader,
                timeout_ms: config.request_timeout_ms.max(1),
            });
            let options = DispatcherOptions {
                max_pending: MAX_PENDING_CALLS,
                on_error: None,
            };
            let dispatcher = Dispatcher::start(open, uploader, options)?;
            Ok(Arc::new(Tracker {
                dispatcher,
                opened: AtomicBool::new(false),
            }))
        })
    }

    /// A custom event. `propertiesJson` is a JSON object (or null); `purpose`
    /// defaults to analytics. Not stored if its purpose is not consented to.
    #[uniffi::method(default(properties_json = None, purpose = None))]
    pub fn track(
        &self,
        event: String,
        properties_json: Option<String>,
        purpose: Option<Purpose>,
    ) -> Result<(), CairnError> {
        guard(|| {
            let e = custom(event, properties_json, purpose)?;
            self.hand_over(move |eng| eng.track_event(e).map(drop))
        })
    }

    /// Several custom events in one crossing (the Kotlin layer's hand-off thread
    /// sends what piled up). Each is its own call: one refused (returned as the error)
    /// does not stop the others.
    pub fn track_many(&self, calls: Vec<TrackCall>) -> Result<(), CairnError> {
        guard(|| {
            self.hand_over_each(
                calls
                    .into_iter()
                    .map(|c| custom(c.event, c.properties_json, c.purpose))
                    .collect(),
            )
        })
    }

    /// Several typed events in one crossing (the Kotlin layer's hand-off thread sends
    /// what piled up). Each is its own call, as in `trackMany`.
    pub fn track_events(&self, calls: Vec<TrackEventCall>) -> Result<(), CairnError> {
        guard(|| {
            self.hand_over_each(
                calls
                    .into_iter()
                    .map(|c| typed(c.event, c.properties_json, c.purpose))
                    .collect(),
            )
        })
    }

    /// An event of the table with typed fields, plus optional extra properties;
    /// `purpose` overrides the table's purpose for it.
    #[uniffi::method(default(properties_json = None, purpose = None))]
    pub fn track_event(
        &self,
        event: SeedEvent,
        properties_json: Option<String>,
        purpose: Option<Purpose>,
    ) -> Result<(), CairnError> {
        guard(|| {
            let e = typed(event, properties_json, purpose)?;
            self.hand_over(move |eng| eng.track_event(e).map(drop))
        })
    }

    /// A screen view (Segment `screen`).
    #[uniffi::method(default(properties_json = None))]
    pub fn screen(&self, name: String, properties_json: Option<String>) -> Result<(), CairnError> {
        guard(|| {
            let props = Value::Object(parse_object("properties", properties_json)?);
            self.hand_over(move |eng| eng.screen(&name, props).map(drop))
        })
    }

    /// Who the user is. The user id and the `email` / `phone` traits are hashed
    /// on the device (HMAC-SHA256 under hashKey) before they are stored.
    #[uniffi::method(default(traits_json = None))]
    pub fn identify(&self, user_id: String, traits_json: Option<String>) -> Result<(), CairnError> {
        guard(|| {
            empty_checked(&user_id)?;
            let traits = Value::Object(parse_object("traits", traits_json)?);
            self.hand_over(move |eng| eng.identify(&user_id, traits).map(drop))
        })
    }

    /// Links the current identity to `newUserId` (hashed like identify).
    pub fn alias(&self, new_user_id: String) -> Result<(), CairnError> {
        guard(|| {
            empty_checked(&new_user_id)?;
            self.hand_over(move |eng| eng.alias(&new_user_id).map(drop))
        })
    }

    /// Puts the user in a group (company, household, ...).
    #[uniffi::method(default(traits_json = None))]
    pub fn group(&self, group_id: String, traits_json: Option<String>) -> Result<(), CairnError> {
        guard(|| {
            empty_checked(&group_id)?;
            let traits = Value::Object(parse_object("traits", traits_json)?);
            self.hand_over(move |eng| eng.group(&group_id, traits).map(drop))
        })
    }

    /// Logout: a new anonymousId, no user, a new session.
    pub fn reset(&self) -> Result<(), CairnError> {
        guard(|| self.hand_over(|eng| eng.reset()))
    }

    /// Sets the user's consent (persisted). Revoked purposes are purged from the
    /// device queue before any later upload can start (the dispatcher runs calls
    /// in order); the call itself returns at once.
    pub fn set_consent(&self, consent: ConsentState) -> Result<(), CairnError> {
        guard(|| self.hand_over(move |eng| eng.set_consent(consent.into())))
    }

    /// Starts uploading everything queued now; returns at once.
    pub fn flush(&self) -> Result<(), CairnError> {
        guard(|| self.hand_over(|eng| eng.flush()))
    }

    /// The app came to the foreground: a session idle too long starts anew, then
    /// `app_opened` is tracked (`from_background` false the first time in this
    /// process: a cold start).
    pub fn on_foreground(&self) -> Result<(), CairnError> {
        guard(|| {
            let from_background = self.opened.swap(true, Ordering::Relaxed);
            let opened = Event::app_opened().with("from_background", from_background);
            self.hand_over(move |eng| {
                eng.on_foreground();
                eng.track_event(opened).map(drop)
            })
        })
    }

    /// The app went to the background: `app_backgrounded` is tracked, then on the
    /// dispatcher thread the queue is made durable (fsync) and an upload starts.
    pub fn on_background(&self) -> Result<(), CairnError> {
        guard(|| {
            self.hand_over(|eng| {
                let tracked = eng.track_event(Event::app_backgrounded()).map(drop);
                // The flush runs even if the event was refused (e.g. over a limit).
                eng.on_background().and(tracked)
            })
        })
    }

    /// The consent in force (after the calls made before this one). Blocks.
    pub fn consent(&self) -> Result<ConsentState, CairnError> {
        guard(|| self.read(|eng| eng.consent().into()))
    }

    /// The device's anonymous id (a UUID, persisted; new after reset). Blocks.
    pub fn anonymous_id(&self) -> Result<String, CairnError> {
        guard(|| self.read(|eng| eng.anonymous_id().to_string()))
    }

    /// Events waiting on the device (after the calls made before this one). Blocks.
    pub fn queued(&self) -> Result<i64, CairnError> {
        guard(|| self.read(|eng| eng.queued() as i64))
    }

    /// The last error of a call that had already returned, or of an upload attempt.
    pub fn last_error(&self) -> Option<String> {
        self.dispatcher.last_error()
    }

    /// Uploads everything tracked before this call and waits for it: Ok once
    /// delivered, Err(Upload) on the first failed attempt, Err(Timeout) after
    /// `timeoutMs`; the events stay queued either way. Blocks (the layers wrap it:
    /// Kotlin `suspend`, Swift `async`).
    pub fn flush_and_wait(&self, timeout_ms: i64) -> Result<(), CairnError> {
        guard(|| {
            let limit = millis("timeoutMs", timeout_ms)?;
            match self.dispatcher.flush_and_wait(limit) {
                Err(cairn::Error::Timeout) => Err(CairnError::Timeout(timeout_ms)),
                r => Ok(r?),
            }
        })
    }

    /// Uploads what it can within `timeoutMs`, then stops both threads and makes
    /// the rest durable for the next start. Later calls fail with `Stopped`. Blocks.
    pub fn shutdown(&self, timeout_ms: i64) -> Result<(), CairnError> {
        let flushed = self.flush_and_wait(timeout_ms);
        self.dispatcher.stop();
        flushed
    }
}
