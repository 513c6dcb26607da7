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

use cairn::{Client, ClientOptions, Engine, Event, SledConfig, SledStore, SystemClock, Tracked};
use serde_json::{Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

uniffi::setup_scaffolding!();

// --- Errors ------------------------------------------------------------------------

/// Everything that can go wrong, as one exception type per language
/// (`CairnException` in Kotlin, `CairnError` in Swift and Python). Each variant
/// carries a readable message.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum CairnError {
    /// The configuration cannot work (e.g. hashing on with an empty hashKey).
    #[error("invalid config: {0}")]
    Config(String),
    /// Properties or traits are not valid JSON.
    #[error("invalid JSON in {what}: {reason}")]
    InvalidJson { what: &'static str, reason: String },
    /// Properties or traits are valid JSON but not an object (`{...}`).
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// An event name, screen name or id is empty.
    #[error("event name or id is empty")]
    EmptyName,
    /// The event is over the per-event limit (32 KB as sent).
    #[error("event is {size} bytes, over the {max} byte limit")]
    EventTooLarge { size: u64, max: u64 },
    /// The on-device queue (sled under dataDir) failed to open, read or write.
    #[error("on-device queue: {0}")]
    Store(String),
    /// An upload attempt failed; the events stay queued and are retried.
    #[error("upload failed (events kept for retry): {0}")]
    Upload(String),
    /// An argument is out of range (a negative count or duration, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A waiting call (flushAwait, shutdown) ran out of time; events stay queued.
    #[error("timed out after {0} ms (events kept for retry)")]
    Timeout(i64),
    /// The tracker has been shut down, or its upload thread could not start.
    #[error("tracker stopped: {0}")]
    Stopped(String),
    /// A bug in Cairn (a caught panic). Please report it with the message.
    #[error("internal error in cairn-mobile (please report): {0}")]
    Internal(String),
}

impl From<cairn::Error> for CairnError {
    fn from(e: cairn::Error) -> Self {
        use cairn::Error as E;
        match e {
            E::EmptyName => CairnError::EmptyName,
            E::EventTooLarge { size, max } => CairnError::EventTooLarge {
                size: size as u64,
                max: max as u64,
            },
            E::NotAnObject => CairnError::NotAnObject("properties/traits"),
            E::Config(m) => CairnError::Config(m),
            E::Store(m) | E::Corrupt(m) => CairnError::Store(m),
            E::Json(j) => CairnError::InvalidJson {
                what: "event",
                reason: j.to_string(),
            },
            E::Upload(m) => CairnError::Upload(m),
            E::Stopped(m) => CairnError::Stopped(m),
            E::Timeout => CairnError::Timeout(0),
        }
    }
}

/// Runs `f`, turning a panic into `CairnError::Internal` so none unwinds into the app.
fn guard<T>(f: impl FnOnce() -> Result<T, CairnError>) -> Result<T, CairnError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(CairnError::Internal(panic_text(p))))
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

// --- Plain data ------------------------------------------------------------------------

/// Opt-in (nothing is collected until a purpose is granted) or opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentMode {
    OptIn,
    OptOut,
}

/// What an event is used for; consent is given per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Purpose {
    Analytics,
    Personalization,
    Marketing,
}

impl From<Purpose> for cairn::Purpose {
    fn from(p: Purpose) -> Self {
        match p {
            Purpose::Analytics => cairn::Purpose::Analytics,
            Purpose::Personalization => cairn::Purpose::Personalization,
            Purpose::Marketing => cairn::Purpose::Marketing,
        }
    }
}

/// The user's consent, one flag per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ConsentState {
    #[uniffi(default = false)]
    pub analytics: bool,
    #[uniffi(default = false)]
    pub personalization: bool,
    #[uniffi(default = false)]
    pub marketing: bool,
}

impl From<ConsentState> for cairn::Consent {
    fn from(c: ConsentState) -> Self {
        cairn::Consent {
            analytics: c.analytics,
            personalization: c.personalization,
            marketing: c.marketing,
        }
    }
}

impl From<cairn::Consent> for ConsentState {
    fn from(c: cairn::Consent) -> Self {
        ConsentState {
            analytics: c.analytics,
            personalization: c.personalization,
            marketing: c.marketing,
        }
    }
}

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

/// The device and app, sent in `context` with every event. All optional: fill
/// what the platform knows (Build.MODEL, UIDevice.current.model, ...).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct DeviceContext {
    #[uniffi(default = None)]
    pub app_name: Option<String>,
    #[uniffi(default = None)]
    pub app_version: Option<String>,
    #[uniffi(default = None)]
    pub app_build: Option<String>,
    #[uniffi(default = None)]
    pub app_namespace: Option<String>,
    /// "mobile", "tablet", ...
    #[uniffi(default = None)]
    pub device_type: Option<String>,
    #[uniffi(default = None)]
    pub device_manufacturer: Option<String>,
    #[uniffi(default = None)]
    pub device_model: Option<String>,
    /// "Android", "iOS", ...
    #[uniffi(default = None)]
    pub os_name: Option<String>,
    #[uniffi(default = None)]
    pub os_version: Option<String>,
    #[uniffi(default = None)]
    pub screen_width: Option<i32>,
    #[uniffi(default = None)]
    pub screen_height: Option<i32>,
    #[uniffi(default = None)]
    pub screen_density: Option<f64>,
    /// BCP 47, e.g. "fr-FR".
    #[uniffi(default = None)]
    pub locale: Option<String>,
    /// IANA zone, e.g. "Europe/Paris".
    #[uniffi(default = None)]
    pub timezone: Option<String>,
}

/// How to build a [`Tracker`]. writeKey, endpoint, dataDir and hashKey are
/// required; every other field has the core's default.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TrackerConfig {
    /// The collector's write key (HTTP Basic user name).
    pub write_key: String,
    /// Collector base URL, e.g. "https://collect.example.com"; batches go to /v1/batch.
    pub endpoint: String,
    /// A directory the tracker owns for its queue (e.g. `filesDir/cairn` on
    /// Android, Application Support/cairn on iOS). One Tracker per directory.
    pub data_dir: String,
    /// HMAC-SHA256 key for user ids, e-mails and phones. Required (no default):
    /// hashing is on by default and refuses an empty key; pass "" only together
    /// with `hashIdentities = false`.
    pub hash_key: String,
    /// Hash identifiers on the device (default on).
    #[uniffi(default = true)]
    pub hash_identities: bool,
    /// Opt-in when null (the default) or OPT_IN; OPT_OUT where the law allows it.
    #[uniffi(default = None)]
    pub consent_mode: Option<ConsentMode>,
    /// Upload once this many events are queued (default 20).
    #[uniffi(default = 20)]
    pub flush_at: i32,
    /// Upload this long after the oldest queued event (default 10 s).
    #[uniffi(default = 10000)]
    pub flush_interval_ms: i64,
    /// Most events in one batch (default 100).
    #[uniffi(default = 100)]
    pub max_batch_events: i32,
    /// Queue bound by count (default 10,000); the oldest are dropped first.
    #[uniffi(default = 10000)]
    pub max_queue_events: i32,
    /// Queue bound by stored bytes (default 8 MiB).
    #[uniffi(default = 8388608)]
    pub max_queue_bytes: i64,
    /// Queued events older than this are dropped (default 7 days).
    #[uniffi(default = 604800000)]
    pub max_event_age_ms: i64,
    /// A session ends after this much inactivity (default 30 min).
    #[uniffi(default = 1800000)]
    pub session_timeout_ms: i64,
    /// Page cache the on-device queue may keep in memory (default 1 MiB).
    #[uniffi(default = 1048576)]
    pub cache_capacity_bytes: i64,
    /// Whole-request timeout for one upload (default 30 s).
    #[uniffi(default = 30000)]
    pub request_timeout_ms: i64,
    /// Device and app context sent with every event.
    #[uniffi(default = None)]
    pub context: Option<DeviceContext>,
}

/// The seed events with typed fields (DESIGN.md, "Events"). Extra properties go
/// in `trackEvent`'s `propertiesJson`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SeedEvent {
    // Explicit signals.
    Rating {
        product_id: String,
        rating: f64,
    },
    Review {
        product_id: String,
        rating: f64,
    },
    WishlistAdd {
        product_id: String,
    },
    CollectionAdd {
        product_id: String,
    },
    TradeOffer {
        product_id: String,
        offer_id: String,
    },
    AddToCart {
        product_id: String,
        quantity: i32,
    },
    Purchase {
        order_id: String,
        total: f64,
        currency: String,
    },
    Signup {
        method: String,
    },
    // Implicit signals.
    ScreenView {
        name: String,
    },
    ProductViewed {
        product_id: String,
    },
    Click {
        target: String,
    },
    Search {
        query: String,
    },
    SearchResultClick {
        query: String,
        product_id: String,
        position: i32,
    },
    FilterApplied {
        filter: String,
        value: String,
    },
    ScrollDepth {
        percent: i32,
    },
    TimeOnPage {
        duration_ms: i64,
    },
    VideoPlay {
        video_id: String,
    },
    VideoComplete {
        video_id: String,
    },
    FormStart {
        form_id: String,
    },
    FormSubmit {
        form_id: String,
    },
    // Negative signals.
    QuickExit {
        dwell_ms: i64,
    },
    WishlistRemove {
        product_id: String,
    },
    RemoveFromCart {
        product_id: String,
        quantity: i32,
    },
    HideItem {
        product_id: String,
    },
}

impl SeedEvent {
    fn into_event(self) -> Result<Event, CairnError> {
        use SeedEvent as S;
        Ok(match self {
            S::Rating { product_id, rating } => Event::rating(&product_id, rating),
            S::Review { product_id, rating } => Event::review(&product_id, rating),
            S::WishlistAdd { product_id } => Event::wishlist_add(&product_id),
            S::CollectionAdd { product_id } => Event::collection_add(&product_id),
            S::TradeOffer {
                product_id,
                offer_id,
            } => Event::trade_offer(&product_id, &offer_id),
            S::AddToCart {
                product_id,
                quantity,
            } => Event::add_to_cart(&product_id, count("quantity", quantity)?),
            S::Purchase {
                order_id,
                total,
                currency,
            } => Event::purchase(&order_id, total, &currency),
            S::Signup { method } => Event::signup(&method),
            S::ScreenView { name } => Event::screen_view(name),
            S::ProductViewed { product_id } => Event::product_viewed(&product_id),
            S::Click { target } => Event::click(&target),
            S::Search { query } => Event::search(&query),
            S::SearchResultClick {
                query,
                product_id,
                position,
            } => Event::search_result_click(&query, &product_id, count("position", position)?),
            S::FilterApplied { filter, value } => Event::filter_applied(&filter, &value),
            S::ScrollDepth { percent } => Event::scroll_depth(
                u8::try_from(percent)
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| {
                        CairnError::InvalidArgument(format!("percent is {percent}, not 0..=100"))
                    })?,
            ),
            S::TimeOnPage { duration_ms } => {
                Event::time_on_page(millis("durationMs", duration_ms)?.as_millis() as u64)
            }
            S::VideoPlay { video_id } => Event::video_play(&video_id),
            S::VideoComplete { video_id } => Event::video_complete(&video_id),
            S::FormStart { form_id } => Event::form_start(&form_id),
            S::FormSubmit { form_id } => Event::form_submit(&form_id),
            S::QuickExit { dwell_ms } => {
                Event::quick_exit(millis("dwellMs", dwell_ms)?.as_millis() as u64)
            }
            S::WishlistRemove { product_id } => Event::wishlist_remove(&product_id),
            S::RemoveFromCart {
                product_id,
                quantity,
            } => Event::remove_from_cart(&product_id, count("quantity", quantity)?),
            S::HideItem { product_id } => Event::hide_item(&product_id),
        })
    }
}

/// A non-negative count from a foreign `Int`.
fn count(what: &str, v: i32) -> Result<u32, CairnError> {
    u32::try_from(v).map_err(|_| CairnError::InvalidArgument(format!("{what} is {v}, below 0")))
}

/// A non-negative duration in milliseconds from a foreign `Long`.
fn millis(what: &str, v: i64) -> Result<Duration, CairnError> {
    u64::try_from(v)
        .map(Duration::from_millis)
        .map_err(|_| CairnError::InvalidArgument(format!("{what} is {v} ms, below 0")))
}

/// A non-negative byte count from a foreign `Long`.
fn bytes(what: &str, v: i64) -> Result<u64, CairnError> {
    u64::try_from(v).map_err(|_| CairnError::InvalidArgument(format!("{what} is {v}, below 0")))
}

/// Parses an optional JSON object argument (null, "" and "{}" mean none).
fn parse_object(
    what: &'static str,
    json: Option<String>,
) -> Result<Map<String, Value>, CairnError> {
    let Some(text) = json else {
        return Ok(Map::new());
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(CairnError::NotAnObject(what)),
        Err(e) => Err(CairnError::InvalidJson {
            what,
            reason: e.to_string(),
        }),
    }
}

/// On Android, reqwest's rustls verifies certificates with rustls-platform-verifier,
/// which panics on the first check unless the app initialised it through JNI; that
/// hook is not exported yet, so an https endpoint is refused up front. Compiled
/// everywhere (and unit-tested), called only on Android.
#[cfg_attr(not(target_os = "android"), allow(dead_code))]
fn refuse_https_without_verifier(endpoint: &str) -> Result<(), CairnError> {
    let https = endpoint
        .trim_start()
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if https {
        return Err(CairnError::Config(
            "HTTPS on Android needs rustls-platform-verifier initialised from the app \
             through JNI, and cairn-mobile does not export that hook yet; use an http:// \
             endpoint (uploads would otherwise fail on the first certificate check)"
                .into(),
        ));
    }
    Ok(())
}

fn build_config(c: &TrackerConfig) -> Result<cairn::Config, CairnError> {
    if c.data_dir.trim().is_empty() {
        return Err(CairnError::Config("dataDir is empty".into()));
    }
    if c.flush_at < 1 || c.max_batch_events < 1 || c.max_queue_events < 1 {
        return Err(CairnError::Config(
            "flushAt, maxBatchEvents and maxQueueEvents must be at least 1".into(),
        ));
    }
    #[cfg(target_os = "android")]
    refuse_https_without_verifier(&c.endpoint)?;
    let mut cfg = cairn::Config::new(c.write_key.clone(), c.endpoint.clone());
    cfg.hash_key = c.hash_key.clone();
    cfg.hash_identities = c.hash_identities;
    cfg.consent_mode = match c.consent_mode {
        Some(ConsentMode::OptOut) => cairn::ConsentMode::OptOut,
        Some(ConsentMode::OptIn) | None => cairn::ConsentMode::OptIn,
    };
    cfg.flush_at = c.flush_at as usize;
    cfg.flush_interval = millis("flushIntervalMs", c.flush_interval_ms)?;
    cfg.max_batch_events = c.max_batch_events as usize;
    cfg.max_queue_events = c.max_queue_events as usize;
    cfg.max_queue_bytes =
        usize::try_from(bytes("maxQueueBytes", c.max_queue_bytes)?).unwrap_or(usize::MAX);
    cfg.max_event_age = millis("maxEventAgeMs", c.max_event_age_ms)?;
    cfg.session_timeout = millis("sessionTimeoutMs", c.session_timeout_ms)?;
    cfg.context.library = cairn::Library {
        name: "cairn-mobile".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    if let Some(d) = &c.context {
        let ctx = &mut cfg.context;
        if d.app_name.is_some()
            || d.app_version.is_some()
            || d.app_build.is_some()
            || d.app_namespace.is_some()
        {
            ctx.app = Some(cairn::App {
                name: d.app_name.clone(),
                version: d.app_version.clone(),
                build: d.app_build.clone(),
                namespace: d.app_namespace.clone(),
            });
        }
        if d.device_type.is_some() || d.device_manufacturer.is_some() || d.device_model.is_some() {
            ctx.device = Some(cairn::Device {
                kind: d.device_type.clone(),
                manufacturer: d.device_manufacturer.clone(),
                model: d.device_model.clone(),
            });
        }
        if d.os_name.is_some() || d.os_version.is_some() {
            ctx.os = Some(cairn::Os {
                name: d.os_name.clone(),
                version: d.os_version.clone(),
            });
        }
        if d.screen_width.is_some() || d.screen_height.is_some() || d.screen_density.is_some() {
            ctx.screen = Some(cairn::Screen {
                width: d.screen_width.and_then(|w| u32::try_from(w).ok()),
                height: d.screen_height.and_then(|h| u32::try_from(h).ok()),
                density: d.screen_density,
            });
        }
        ctx.locale = d.locale.clone();
        ctx.timezone = d.timezone.clone();
    }
    Ok(cfg)
}

// --- The tracker -------------------------------------------------------------------------

/// One per app (and per dataDir). Thread-safe: call it from any thread.
///
/// Calls queue to the device and return; uploads happen on the tracker's own
/// `cairn-upload` thread. Close it (Kotlin `close()`, Swift deinit, Python `del`)
/// to stop that thread; what is queued stays on disk for the next start.
#[derive(uniffi::Object)]
pub struct Tracker {
    client: Arc<Client>,
    /// The upload thread's runtime; taken (and shut down) on drop.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

#[uniffi::export]
impl Tracker {
    /// Opens the queue under `config.dataDir` and starts the upload thread.
    #[uniffi::constructor]
    pub fn new(config: TrackerConfig) -> Result<Arc<Tracker>, CairnError> {
        guard(|| {
            let cfg = build_config(&config)?;
            let store = SledStore::open_with(SledConfig {
                path: config.data_dir.clone().into(),
                cache_capacity: bytes("cacheCapacityBytes", config.cache_capacity_bytes)?,
            })
            .map_err(|e| CairnError::Store(format!("{} ({})", e, config.data_dir)))?;
            let engine = Engine::new(cfg, Arc::new(store), Arc::new(SystemClock))?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(1)
                .thread_name("cairn-upload")
                .enable_all()
                .build()
                .map_err(|e| CairnError::Stopped(format!("cannot start the upload thread: {e}")))?;
            let options = ClientOptions {
                request_timeout: millis("requestTimeoutMs", config.request_timeout_ms.max(1))?,
                ..ClientOptions::default()
            };
            let client = {
                let _inside = runtime.enter();
                Client::start(engine, options)?
            };
            Ok(Arc::new(Tracker {
                client: Arc::new(client),
                handle: runtime.handle().clone(),
                runtime: Mutex::new(Some(runtime)),
            }))
        })
    }

    /// A custom event. `propertiesJson` is a JSON object (or null); `purpose`
    /// defaults to analytics.
    #[uniffi::method(default(properties_json = None, purpose = None))]
    pub fn track(
        &self,
        event: String,
        properties_json: Option<String>,
        purpose: Option<Purpose>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let props = parse_object("properties", properties_json)?;
            let mut e = Event::track(event, Value::Object(props))?;
            if let Some(p) = purpose {
                e = e.purpose(p.into());
            }
            Ok(self.client.track_event(e)?.into())
        })
    }

    /// A seed event with typed fields, plus optional extra properties.
    #[uniffi::method(default(properties_json = None, purpose = None))]
    pub fn track_event(
        &self,
        event: SeedEvent,
        properties_json: Option<String>,
        purpose: Option<Purpose>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let extra = parse_object("properties", properties_json)?;
            let mut e = event.into_event()?;
            e.properties.extend(extra);
            if let Some(p) = purpose {
                e = e.purpose(p.into());
            }
            Ok(self.client.track_event(e)?.into())
        })
    }

    /// A screen view (Segment `screen`).
    #[uniffi::method(default(properties_json = None))]
    pub fn screen(
        &self,
        name: String,
        properties_json: Option<String>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let props = parse_object("properties", properties_json)?;
            Ok(self.client.screen(&name, Value::Object(props))?.into())
        })
    }

    /// Who the user is. The user id and the `email` / `phone` traits are hashed
    /// on the device (HMAC-SHA256 under hashKey) before they are stored.
    #[uniffi::method(default(traits_json = None))]
    pub fn identify(
        &self,
        user_id: String,
        traits_json: Option<String>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let traits = parse_object("traits", traits_json)?;
            Ok(self
                .client
                .identify(&user_id, Value::Object(traits))?
                .into())
        })
    }

    /// Links the current identity to `newUserId` (hashed like identify).
    pub fn alias(&self, new_user_id: String) -> Result<TrackResult, CairnError> {
        guard(|| Ok(self.client.alias(&new_user_id)?.into()))
    }

    /// Puts the user in a group (company, household, ...).
    #[uniffi::method(default(traits_json = None))]
    pub fn group(
        &self,
        group_id: String,
        traits_json: Option<String>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let traits = parse_object("traits", traits_json)?;
            Ok(self.client.group(&group_id, Value::Object(traits))?.into())
        })
    }

    /// Logout: a new anonymousId, no user, a new session. Queued events keep
    /// the identity they were tracked with.
    pub fn reset(&self) -> Result<(), CairnError> {
        guard(|| Ok(self.client.reset()?))
    }

    /// Sets the user's consent (persisted). Revoked purposes are purged from
    /// the device queue, including an upload in flight, before this returns.
    pub fn set_consent(&self, consent: ConsentState) -> Result<(), CairnError> {
        guard(|| Ok(self.client.set_consent(consent.into())?))
    }

    /// The consent in force.
    pub fn consent(&self) -> Result<ConsentState, CairnError> {
        guard(|| Ok(self.client.with_engine(|e| e.consent()).into()))
    }

    /// The device's anonymous id (a UUID, persisted; new after reset).
    pub fn anonymous_id(&self) -> Result<String, CairnError> {
        guard(|| Ok(self.client.with_engine(|e| e.anonymous_id().to_string())))
    }

    /// Events waiting on the device.
    pub fn queued(&self) -> Result<i64, CairnError> {
        guard(|| Ok(self.client.with_engine(|e| e.queued() as i64)))
    }

    /// Starts uploading everything queued now and returns at once.
    pub fn flush(&self) -> Result<(), CairnError> {
        guard(|| {
            let client = self.client.clone();
            // Everything, the engine's flush (an fsync) included, runs on the upload
            // thread: Client::flush marks the queue due and wakes the upload loop.
            // Its result is not awaited here (flushAwait does that).
            self.handle.spawn(async move {
                let _ = client.flush().await;
            });
            Ok(())
        })
    }

    /// The app came to the foreground (may start a new session).
    pub fn on_foreground(&self) -> Result<(), CairnError> {
        guard(|| {
            self.client.on_foreground();
            Ok(())
        })
    }

    /// The app went to the background: the queue is made durable now (fsync)
    /// and an upload starts; call it from onStop / sceneDidEnterBackground.
    pub fn on_background(&self) -> Result<(), CairnError> {
        guard(|| Ok(self.client.on_background()?))
    }

    /// Uploads everything tracked before this call and waits for it (suspend /
    /// async). Err(Upload) on the first failed attempt, Err(Timeout) after
    /// `timeoutMs`; either way the events stay queued for retry.
    pub async fn flush_await(&self, timeout_ms: i64) -> Result<(), CairnError> {
        let limit = millis("timeoutMs", timeout_ms)?;
        let client = self.client.clone();
        // The wait runs on the upload runtime (it needs tokio's timer); the
        // foreign executor only awaits the join handle.
        let task = self
            .handle
            .spawn(async move { tokio::time::timeout(limit, client.flush()).await });
        match task.await {
            Ok(Ok(r)) => Ok(r?),
            Ok(Err(_elapsed)) => Err(CairnError::Timeout(timeout_ms)),
            Err(e) if e.is_cancelled() => Err(CairnError::Stopped("the tracker was closed".into())),
            Err(e) => Err(CairnError::Internal(format!("flush task: {e}"))),
        }
    }

    /// Uploads what it can within `timeoutMs`, then stops the upload thread's
    /// loop and makes the rest durable for the next start. Calls after this
    /// still queue (to disk) but nothing is uploaded until a new Tracker.
    pub async fn shutdown(&self, timeout_ms: i64) -> Result<(), CairnError> {
        let limit = millis("timeoutMs", timeout_ms)?;
        let client = self.client.clone();
        let task = self
            .handle
            .spawn(async move { client.shutdown(limit).await });
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cairn::Error::Timeout)) => Err(CairnError::Timeout(timeout_ms)),
            Ok(Err(e)) => Err(e.into()),
            Err(e) if e.is_cancelled() => Err(CairnError::Stopped("the tracker was closed".into())),
            Err(e) => Err(CairnError::Internal(format!("shutdown task: {e}"))),
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // Make what is queued durable, then stop the upload thread without
        // waiting for a request in flight (its events stay queued).
        let _ = self.client.with_engine(|e| e.sync());
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = runtime {
            rt.shutdown_background();
        }
    }
}

/// The version of the library (and of the bindings generated from it).
#[uniffi::export]
pub fn cairn_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse() {
        assert!(parse_object("properties", None).unwrap().is_empty());
        assert!(parse_object("properties", Some(" ".into()))
            .unwrap()
            .is_empty());
        assert_eq!(
            parse_object("properties", Some(r#"{"a":1}"#.into())).unwrap()["a"],
            1
        );
        let e = parse_object("traits", Some("[1]".into())).unwrap_err();
        assert_eq!(e.to_string(), "traits must be a JSON object");
        let e = parse_object("properties", Some("{".into())).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid JSON in properties"),
            "{e}"
        );
    }

    #[test]
    fn https_is_refused_where_the_verifier_is_not_initialised() {
        for url in ["https://collect.example.com", " HTTPS://x"] {
            let e = refuse_https_without_verifier(url).unwrap_err();
            assert!(matches!(e, CairnError::Config(_)), "{e}");
            assert!(e.to_string().contains("HTTPS on Android"), "{e}");
        }
        assert!(refuse_https_without_verifier("http://10.0.2.2:8080").is_ok());
        assert!(refuse_https_without_verifier("").is_ok());
    }

    #[test]
    fn guard_catches_panics() {
        let r: Result<(), CairnError> = guard(|| panic!("boom"));
        assert_eq!(
            r.unwrap_err().to_string(),
            "internal error in cairn-mobile (please report): boom"
        );
    }
}
