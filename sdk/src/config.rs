//! One configuration struct with defaults for every platform. The numbers are the
//! product's rules (Segment's published limits where there is no reason to differ).

use crate::consent::ConsentMode;
use cairn_protocol::limits;
use serde::Serialize;
use std::time::Duration;

/// Engine configuration. Start from `Config::new(write_key, endpoint)` and
/// override fields; every field has a documented default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sent as the HTTP Basic user name (password empty).
    pub write_key: String,
    /// Collector base URL; batches go to `{endpoint}/v1/batch`.
    pub endpoint: String,
    /// Also put `writeKey` in the batch body (for transports that cannot set headers).
    pub write_key_in_body: bool,
    /// HMAC-SHA256 key for user ids, e-mails and phones (required when `hash_identities`).
    pub hash_key: String,
    /// Hash identifiers on the device (default on).
    pub hash_identities: bool,
    /// Opt-in (default) or opt-out consent.
    pub consent_mode: ConsentMode,
    /// Upload once this many events are queued (default 20).
    pub flush_at: usize,
    /// Upload this long after the oldest queued event (default 10 s).
    pub flush_interval: Duration,
    /// Most events in one batch (default 100).
    pub max_batch_events: usize,
    /// Largest uncompressed batch body (default 500 KB).
    pub max_batch_bytes: usize,
    /// Largest serialised event (default 32 KB).
    pub max_event_bytes: usize,
    /// Queue bound by count (default 10,000); the oldest are dropped first.
    pub max_queue_events: usize,
    /// Queue bound by stored bytes (default 8 MiB; stored events exclude the static
    /// context, so a typical event takes 300-700 bytes).
    pub max_queue_bytes: usize,
    /// Queued events older than this are dropped (default 7 days).
    pub max_event_age: Duration,
    /// A session ends after this much inactivity (default 30 min).
    pub session_timeout: Duration,
    /// First retry delay ceiling (default 1 s); doubles per failure.
    pub backoff_base: Duration,
    /// Largest retry delay ceiling (default 5 min).
    pub backoff_cap: Duration,
    /// Longest `Retry-After` honoured (default 1 h); longer values are clamped.
    pub max_retry_after: Duration,
    /// Writes are made durable at most this long after they happen (default 200 ms).
    pub sync_interval: Duration,
    /// Seed for backoff jitter; `None` seeds from the OS (tests set it).
    pub rng_seed: Option<u64>,
    /// Static context sent with every event.
    pub context: StaticContext,
}

impl Config {
    pub fn new(write_key: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Config {
            write_key: write_key.into(),
            endpoint: endpoint.into(),
            ..Config::default()
        }
    }

    /// `{endpoint}/v1/batch`.
    pub fn batch_url(&self) -> String {
        // Trailing `/`s cut by bytes (no char pattern searcher in the wasm).
        let n = self
            .endpoint
            .bytes()
            .rposition(|b| b != b'/')
            .map_or(0, |i| i + 1);
        [self.endpoint.get(..n).unwrap_or_default(), "/v1/batch"].concat()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            write_key: String::new(),
            endpoint: "http://127.0.0.1:8080".into(),
            write_key_in_body: false,
            hash_key: String::new(),
            hash_identities: true,
            consent_mode: ConsentMode::OptIn,
            flush_at: 20,
            flush_interval: Duration::from_secs(10),
            max_batch_events: limits::MAX_BATCH_EVENTS,
            max_batch_bytes: limits::MAX_BATCH_BYTES,
            max_event_bytes: limits::MAX_EVENT_BYTES,
            max_queue_events: 10_000,
            max_queue_bytes: 8 * 1024 * 1024,
            max_event_age: Duration::from_secs(7 * 24 * 3600),
            session_timeout: Duration::from_secs(30 * 60),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(5 * 60),
            max_retry_after: Duration::from_secs(3600),
            sync_interval: Duration::from_millis(200),
            rng_seed: None,
            context: StaticContext::default(),
        }
    }
}

/// The parts of Segment's `context` that do not change per event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StaticContext {
    pub library: Library,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<Screen>,
    /// BCP 47, e.g. "en-GB".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// IANA zone, e.g. "Europe/Paris".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(rename = "userAgent", skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Anything else, as JSON object members without the braces (e.g.
    /// `"referrer":{"url":"https://x/"}`; "" for none), merged into `context` as
    /// written. Not valid members: `Engine::new` fails with `NotAnObject`. Text, not
    /// a value map, so no JSON value type is needed to build the static context
    /// (the web tracker's wasm has none).
    #[serde(skip)]
    pub extra: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Library {
    pub name: String,
    pub version: String,
}

impl Default for Library {
    fn default() -> Self {
        Library {
            name: "cairn-rust".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct App {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Device {
    /// "mobile", "tablet", "desktop", ...
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Os {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Screen {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_url_cuts_every_trailing_slash() {
        for endpoint in [
            "",
            "/",
            "///",
            "http://x",
            "http://x/",
            "http://x//",
            "http://x/é/p/",
        ] {
            let c = Config::new("wk", endpoint);
            let want = [endpoint.trim_end_matches('/'), "/v1/batch"].concat();
            assert_eq!(c.batch_url(), want, "{endpoint:?}");
        }
    }
}
