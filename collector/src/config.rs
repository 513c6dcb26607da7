//! All of the collector's settings in one struct: flags, each also read from an
//! environment variable, with defaults that let the first run work with no flags.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use cairn_protocol::limits;
use clap::{ArgAction, Args, Parser};

pub use crate::keys::WriteKeySpec;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cairn-collector",
    version,
    about = "Cairn event collector",
    after_help = "Environment:\n  \
        CAIRN_LOG          log filter (tracing EnvFilter syntax), e.g. `info`, `debug`, \
        `cairn_collector=trace` [default: info]\n  \
        CAIRN_LOG_FORMAT   `json` for one JSON object per log line; anything else is compact text"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded store and of generated keys.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    pub data_dir: PathBuf,
    /// Write keys accepted on ingest, `KEY[:source=NAME][:server][:hash-key=K]`
    /// (repeatable, or comma-separated). `source` names the key's events in the feed
    /// (default `default`); `server` marks a key kept on servers, the only kind whose
    /// aliases may link two user ids; `hash-key` is the project hash key its SDKs hash
    /// identifiers with (default `--project-hash-key`). Generated if none.
    #[arg(long = "write-key", env = "CAIRN_WRITE_KEYS", value_delimiter = ',')]
    pub write_keys: Vec<WriteKeySpec>,
    /// The project hash key of write keys that name none: the key the SDKs hash user
    /// ids, e-mails and phones with on the device. Generated if not given.
    #[arg(long, env = "CAIRN_PROJECT_HASH_KEY")]
    pub project_hash_key: Option<String>,
    /// Key for reading the feed (at least 12 characters). Generated if not given.
    #[arg(long, env = "CAIRN_READ_KEY")]
    pub read_key: Option<String>,
    /// Key for deletion and other admin calls (at least 12 characters, not the read key).
    /// Generated if not given.
    #[arg(long, env = "CAIRN_ADMIN_KEY")]
    pub admin_key: Option<String>,
    /// Server secret for pseudonymising identifiers (at least 12 characters). Generated if
    /// not given.
    #[arg(long, env = "CAIRN_HASH_SECRET")]
    pub hash_secret: Option<String>,
    /// Store userId, previousId, e-mail and phone only as HMAC-SHA256 under the hash secret.
    #[arg(long, env = "CAIRN_PSEUDONYMISE", default_value_t = true, action = ArgAction::Set)]
    pub pseudonymise: bool,
    /// Keys whose values are pseudonymised whatever they hold (besides e-mails and phones,
    /// found everywhere): `a.b.c` a path from the event's root, `name` a key at any depth.
    #[arg(long, env = "CAIRN_PII_PSEUDONYMISE_KEYS", value_delimiter = ',')]
    pub pii_pseudonymise_keys: Vec<String>,
    /// Keys removed from events before they are stored, as `--pii-pseudonymise-keys`.
    #[arg(
        long,
        env = "CAIRN_PII_DROP_KEYS",
        value_delimiter = ',',
        default_value = "context.ip"
    )]
    pub pii_drop_keys: Vec<String>,
    /// Directory of static files served at /demo/ (the example web shop).
    #[arg(long, env = "CAIRN_DEMO_DIR")]
    pub demo_dir: Option<PathBuf>,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub key_files: KeyFiles,
    #[command(flatten)]
    pub kafka: crate::kafka::KafkaConfig,
    /// Test seam (feature `fault-injection`): a file whose `OP COUNT` lines make the
    /// event log's next writes, syncs or reads fail with EIO (see `store::fault`).
    #[cfg(feature = "fault-injection")]
    #[arg(long, env = "CAIRN_FAULT_INJECTION_FILE")]
    pub fault_injection_file: Option<PathBuf>,
}

/// Secrets read from files (e.g. mounted from a secret store), so they never appear in
/// the command line that `ps` shows. Each excludes its flag.
#[derive(Debug, Clone, Default, Args)]
pub struct KeyFiles {
    /// File holding the read key.
    #[arg(long, env = "CAIRN_READ_KEY_FILE")]
    pub read_key_file: Option<PathBuf>,
    /// File holding the admin key.
    #[arg(long, env = "CAIRN_ADMIN_KEY_FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// File holding the hash secret.
    #[arg(long, env = "CAIRN_HASH_SECRET_FILE")]
    pub hash_secret_file: Option<PathBuf>,
    /// File of write keys, one `KEY[:source=NAME][:server][:hash-key=K]` per line.
    #[arg(long, env = "CAIRN_WRITE_KEYS_FILE")]
    pub write_keys_file: Option<PathBuf>,
}

/// Bounds on what one request, one event and the whole server may hold.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Largest event, in bytes of JSON.
    #[arg(long, env = "CAIRN_MAX_EVENT_BYTES", default_value_t = limits::MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,
    /// Largest request body, in bytes after decompression.
    #[arg(long, env = "CAIRN_MAX_BATCH_BYTES", default_value_t = limits::MAX_BATCH_BYTES)]
    pub max_batch_bytes: usize,
    /// Deepest nesting of objects and arrays inside one event.
    #[arg(long, env = "CAIRN_MAX_DEPTH", default_value_t = limits::MAX_DEPTH)]
    pub max_depth: usize,
    /// Request bytes held in memory at once; past this, 503 with Retry-After.
    #[arg(long, env = "CAIRN_MAX_INFLIGHT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_inflight_bytes: usize,
    /// Feed response bytes held in memory at once, until sent; past this, 503.
    #[arg(long, env = "CAIRN_MAX_RESPONSE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// How long a messageId is remembered for deduplication, in hours.
    #[arg(long, env = "CAIRN_DEDUP_HOURS", default_value_t = 7 * 24)]
    pub dedup_hours: u64,
    /// Seconds a client is told to wait when the server sheds load.
    #[arg(long, env = "CAIRN_RETRY_AFTER_SECS", default_value_t = 1)]
    pub retry_after_secs: u64,
    /// Events committed together in one group (one fsync) at most.
    #[arg(long, env = "CAIRN_MAX_GROUP_EVENTS", default_value_t = 20_000)]
    pub max_group_events: usize,
    /// Anonymous ids that events may tie to one user id; past it new ties are refused
    /// (the events are kept) and counted in `cairn_identity_links_refused_total`.
    #[arg(long, env = "CAIRN_MAX_ANONYMOUS_IDS_PER_USER", default_value_t = limits::MAX_ANONYMOUS_IDS_PER_USER)]
    pub max_anonymous_ids_per_user: usize,
    /// Ingest requests admitted at once (reading their body, parsing, waiting for the
    /// commit); one more is answered 503 with Retry-After at once, before its body is
    /// read. Requests without a header key get an eighth of it, apart.
    #[arg(long, env = "CAIRN_MAX_PENDING_REQUESTS", default_value_t = 64)]
    pub max_pending_requests: usize,
    /// Queue delay target, in ms: when every request of a 100 ms interval waited longer
    /// than this between its body arriving and its answer, a queue is standing and only
    /// a quarter of `--max-pending-requests` is admitted until the delay is back under it.
    /// Every acknowledgement includes an fsync: keep it above the disk's fsync time.
    #[arg(long, env = "CAIRN_QUEUE_DELAY_TARGET_MS", default_value_t = 50)]
    pub queue_delay_target_ms: u64,
    /// Open connections at most; one past it is answered 503 at once and closed.
    #[arg(long, env = "CAIRN_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, and that an idle keep-alive
    /// connection is kept.
    #[arg(long, env = "CAIRN_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body (408 `body_timeout` after).
    #[arg(long, env = "CAIRN_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a response may wait on a client that does not read it; then the
    /// connection is closed and the response freed.
    #[arg(long, env = "CAIRN_WRITE_TIMEOUT_SECS", default_value_t = 30)]
    pub write_timeout_secs: u64,
    /// Longest long-poll wait on the feed, in seconds.
    #[arg(long, env = "CAIRN_MAX_FEED_WAIT_SECS", default_value_t = 30)]
    pub max_feed_wait_secs: u64,
}

impl Limits {
    pub fn dedup_window(&self) -> Duration {
        Duration::from_secs(self.dedup_hours * 3600)
    }

    pub fn connections(&self) -> crate::http::ConnectionLimits {
        crate::http::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(self.write_timeout_secs.max(1)),
            retry_after_secs: self.retry_after_secs,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Config::default().limits
    }
}

impl Default for Config {
    /// The flag defaults, without reading the environment.
    fn default() -> Self {
        let mut cmd = <Self as clap::CommandFactory>::command();
        // Drop env lookups so a default is the same on every machine.
        cmd = cmd.mut_args(|a| a.env(None::<&str>));
        let matches = cmd
            .try_get_matches_from(["cairn-collector"])
            .expect("defaults parse");
        <Self as clap::FromArgMatches>::from_arg_matches(&matches).expect("defaults parse")
    }
}

impl Config {
    /// Defaults with the given data dir: the usual starting point for tests and embedding.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    #[test]
    fn write_keys_with_roles_and_sources() {
        let config = Config::try_parse_from([
            "cairn-collector",
            "--write-key",
            "web-key:source=web,backend-key:server:source=backend",
            "--write-key",
            "app-key:hash-key=other",
        ])
        .unwrap();
        let keys: Vec<_> = config
            .write_keys
            .iter()
            .map(|k| {
                (
                    k.key.as_str(),
                    k.source.as_deref(),
                    k.server,
                    k.hash_key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("web-key", Some("web"), false, None),
                ("backend-key", Some("backend"), true, None),
                ("app-key", None, false, Some("other")),
            ]
        );
        assert!(Config::try_parse_from(["cairn-collector", "--write-key", "k:admin"]).is_err());
    }
}
