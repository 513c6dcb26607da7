//! How a [`Tracker`](crate::Tracker) is configured: the [`TrackerConfig`] and
//! [`DeviceContext`] records the app fills in, and their checked conversion to the
//! core's [`cairn::Config`] (defaults, ranges, the device context).

use crate::args::{bytes, millis};
use crate::consent::ConsentMode;
use crate::error::CairnError;
#[cfg(doc)]
use crate::Tracker; // for the [`Tracker`] link in TrackerConfig's doc

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
    /// Timeout the platform uploader applies to one request: connect and read (default 30 s).
    #[uniffi(default = 30000)]
    pub request_timeout_ms: i64,
    /// Device and app context sent with every event.
    #[uniffi(default = None)]
    pub context: Option<DeviceContext>,
}

pub(crate) fn build_config(c: &TrackerConfig) -> Result<cairn::Config, CairnError> {
    if c.data_dir.trim().is_empty() {
        return Err(CairnError::Config("dataDir is empty".into()));
    }
    if c.flush_at < 1 || c.max_batch_events < 1 || c.max_queue_events < 1 {
        return Err(CairnError::Config(
            "flushAt, maxBatchEvents and maxQueueEvents must be at least 1".into(),
        ));
    }
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
