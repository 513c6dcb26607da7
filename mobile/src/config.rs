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

/// The platform uploader's default timeout for one request (the core does no HTTP here).
const REQUEST_TIMEOUT_MS: i64 = 30_000;

impl TrackerConfig {
    /// The four required fields; every other field the core's default, which is
    /// what the bindings' defaults above say (a test reads them in the committed
    /// Swift bindings). For Rust callers: tests, benches, a Rust app.
    pub fn new(write_key: &str, endpoint: &str, data_dir: &str, hash_key: &str) -> Self {
        let core = cairn::Config::new(write_key, endpoint);
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let as_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        TrackerConfig {
            write_key: write_key.into(),
            endpoint: endpoint.into(),
            data_dir: data_dir.into(),
            hash_key: hash_key.into(),
            hash_identities: core.hash_identities,
            consent_mode: None,
            flush_at: as_i32(core.flush_at),
            flush_interval_ms: ms(core.flush_interval),
            max_batch_events: as_i32(core.max_batch_events),
            max_queue_events: as_i32(core.max_queue_events),
            max_queue_bytes: i64::try_from(core.max_queue_bytes).unwrap_or(i64::MAX),
            max_event_age_ms: ms(core.max_event_age),
            session_timeout_ms: ms(core.session_timeout),
            cache_capacity_bytes: i64::try_from(cairn::SledConfig::new(data_dir).cache_capacity)
                .unwrap_or(i64::MAX),
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            context: None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `TrackerConfig::new` and the foreign languages' defaults (the `uniffi(default)`
    /// attributes, as generated into the committed Swift bindings) say the same.
    #[test]
    fn new_has_the_bindings_defaults() {
        let swift = include_str!("../bindings/swift/Cairn.swift");
        let start = swift
            .find("public struct TrackerConfig")
            .expect("TrackerConfig in the Swift bindings");
        let init = &swift[start..];
        let init = &init[init.find("public init(").expect("its init")..];
        let init = &init[..init.find(") {").expect("the init's end")];
        let c = TrackerConfig::new("k", "http://e", "/d", "h");
        let long = |v: i64| format!("Int64({v})");
        let expected = [
            ("hashIdentities", c.hash_identities.to_string()),
            ("consentMode", "nil".into()),
            ("flushAt", c.flush_at.to_string()),
            ("flushIntervalMs", long(c.flush_interval_ms)),
            ("maxBatchEvents", c.max_batch_events.to_string()),
            ("maxQueueEvents", c.max_queue_events.to_string()),
            ("maxQueueBytes", long(c.max_queue_bytes)),
            ("maxEventAgeMs", long(c.max_event_age_ms)),
            ("sessionTimeoutMs", long(c.session_timeout_ms)),
            ("cacheCapacityBytes", long(c.cache_capacity_bytes)),
            ("requestTimeoutMs", long(c.request_timeout_ms)),
            ("context", "nil".into()),
        ];
        for (name, value) in expected {
            let param = ["*/", name, ": "].concat();
            let line = init
                .lines()
                .find(|l| l.trim_start().starts_with(&param))
                .unwrap_or_else(|| panic!("{name} not in TrackerConfig's Swift init"));
            let default = line
                .split(" = ")
                .nth(1)
                .map(|d| d.trim_end_matches([',', ' ']));
            assert_eq!(default, Some(value.as_str()), "{name}: Swift says {line:?}");
        }
        assert!(c.consent_mode.is_none() && c.context.is_none());
        build_config(&c).expect("the defaults make a valid config");
    }
}
