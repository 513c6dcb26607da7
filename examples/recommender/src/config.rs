//! All of the service's settings in one struct: flags, each also read from a
//! `CAIRN_RECO_*` environment variable. The collector's read key, hash secret and
//! project hash key may come from flags or from the collector's `keys.json`
//! (`--collector-keys`); flags win.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use serde::Deserialize;

use crate::RecoError;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cairn-recommender",
    version,
    about = "Cairn's recommender and profile backend"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CAIRN_RECO_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Directory of the snapshot (the model and its feed cursor).
    #[arg(long, env = "CAIRN_RECO_DATA_DIR", default_value = "./cairn-reco-data")]
    pub data_dir: PathBuf,
    /// The collector's base URL.
    #[arg(
        long,
        env = "CAIRN_RECO_COLLECTOR",
        default_value = "http://127.0.0.1:8080"
    )]
    pub collector: String,
    /// The collector's read key (or from --collector-keys).
    #[arg(long, env = "CAIRN_RECO_READ_KEY")]
    pub read_key: Option<String>,
    /// The collector's hash secret, to derive the stored pseudonym of a userId
    /// (or from --collector-keys).
    #[arg(long, env = "CAIRN_RECO_HASH_SECRET")]
    pub hash_secret: Option<String>,
    /// The project hash key the SDKs hash user ids with (or from --collector-keys).
    #[arg(long, env = "CAIRN_RECO_PROJECT_HASH_KEY")]
    pub project_hash_key: Option<String>,
    /// The collector's keys.json (in its data dir): fills the three keys above when
    /// they are not given.
    #[arg(long, env = "CAIRN_RECO_COLLECTOR_KEYS")]
    pub collector_keys: Option<PathBuf>,
    /// JSON file of cohort rules and experiments; built-in defaults when absent.
    #[arg(long, env = "CAIRN_RECO_RULES")]
    pub rules: Option<PathBuf>,
    /// When set, /api/v1/* and the dashboard's data need `Authorization: Bearer <key>`.
    /// Recommendations stay open (a shop's pages call them).
    #[arg(long, env = "CAIRN_RECO_API_KEY")]
    pub api_key: Option<String>,
    /// Half-life of a signal's weight, in hours.
    #[arg(long, env = "CAIRN_RECO_HALF_LIFE_HOURS", default_value_t = 168.0)]
    pub half_life_hours: f64,
    /// Records asked for per feed read.
    #[arg(long, env = "CAIRN_RECO_FEED_PAGE", default_value_t = 1000)]
    pub feed_page: usize,
    /// Long-poll wait per feed read, in seconds.
    #[arg(long, env = "CAIRN_RECO_FEED_WAIT_SECS", default_value_t = 30)]
    pub feed_wait_secs: u64,
    /// Least time between two snapshots, in milliseconds (a deletion or revocation is
    /// written at once whatever this says).
    #[arg(long, env = "CAIRN_RECO_SNAPSHOT_MS", default_value_t = 1000)]
    pub snapshot_ms: u64,
    /// Longest wait between two attempts while the collector is away, in milliseconds.
    #[arg(long, env = "CAIRN_RECO_MAX_BACKOFF_MS", default_value_t = 5000)]
    pub max_backoff_ms: u64,
    /// Kafka bootstrap servers (`host:port,...`): when set, the service reads the topic
    /// the collector forwards to, as a member of `--kafka-group`, instead of the HTTP
    /// feed (needs the `kafka` build feature).
    #[arg(long, env = "CAIRN_RECO_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// The topic (the collector's `--kafka-topic`).
    #[arg(long, env = "CAIRN_RECO_KAFKA_TOPIC", default_value = "cairn-events")]
    pub kafka_topic: String,
    /// The consumer group: its members share the topic's partitions.
    #[arg(
        long,
        env = "CAIRN_RECO_KAFKA_GROUP",
        default_value = "cairn-recommender"
    )]
    pub kafka_group: String,
    /// librdkafka consumer settings passed through, `KEY=VALUE` (repeatable; `;` between
    /// several in the variable), e.g. `security.protocol=SASL_SSL`.
    #[arg(long, env = "CAIRN_RECO_KAFKA_OPTIONS", value_delimiter = ';')]
    pub kafka_option: Vec<String>,
    /// Message ids remembered to drop duplicates (a retry may reach the topic twice,
    /// through another collector).
    #[arg(long, env = "CAIRN_RECO_KAFKA_DEDUP_WINDOW", default_value_t = 200_000)]
    pub kafka_dedup_window: usize,
}

/// Why `--kafka-brokers` is refused by a build without the `kafka` feature.
pub(crate) const NO_KAFKA_BUILD: &str = "--kafka-brokers needs a build with the `kafka` feature";

/// librdkafka consumer settings `--kafka-option` may not change.
pub const KAFKA_OWNED: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "partition.assignment.strategy",
];

/// The collector secrets the service needs, resolved.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub read_key: String,
    pub hash_secret: String,
    pub project_hash_key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CollectorKeys {
    read_key: Option<String>,
    hash_secret: Option<String>,
    project_hash_key: Option<String>,
}

impl Config {
    /// The flag defaults plus what a test must give, without reading the environment.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        let mut cmd = <Self as clap::CommandFactory>::command();
        cmd = cmd.mut_args(|a| a.env(None::<&str>));
        let matches = cmd
            .try_get_matches_from(["cairn-recommender"])
            .expect("defaults parse");
        let mut c = <Self as clap::FromArgMatches>::from_arg_matches(&matches).expect("parse");
        c.data_dir = data_dir.into();
        c
    }

    pub fn half_life_ms(&self) -> f64 {
        self.half_life_hours * 3_600_000.0
    }

    pub fn snapshot_interval(&self) -> Duration {
        Duration::from_millis(self.snapshot_ms)
    }

    /// `--kafka-option`s as (key, value). Refused: not `KEY=VALUE`, or a setting the
    /// service owns (the flags set it, or the guarantees rest on it: the service commits
    /// offsets itself, only once durable, and every partition is revoked before any moves).
    pub fn kafka_options(&self) -> Result<Vec<(String, String)>, RecoError> {
        self.kafka_option
            .iter()
            .map(|option| {
                let (k, v) = option.split_once('=').ok_or_else(|| {
                    RecoError::Config(format!("--kafka-option {option:?} is not KEY=VALUE"))
                })?;
                let k = k.trim();
                if KAFKA_OWNED.contains(&k) {
                    return Err(RecoError::Config(format!(
                        "--kafka-option {k} is set by the service (see its README)"
                    )));
                }
                Ok((k.to_owned(), v.trim().to_owned()))
            })
            .collect()
    }

    /// Flags first, then the collector's keys.json; each of the three is required.
    pub fn secrets(&self) -> Result<Secrets, RecoError> {
        let file: CollectorKeys = match &self.collector_keys {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| RecoError::Config(format!("{}: {e}", path.display())))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| RecoError::Config(format!("{}: {e}", path.display())))?
            }
            None => CollectorKeys::default(),
        };
        let need = |given: &Option<String>, kept: Option<String>, flag: &str| {
            // An empty flag or variable counts as absent (scripts pass `${X:-}`).
            given
                .clone()
                .filter(|k| !k.is_empty())
                .or(kept)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    RecoError::Config(format!("{flag} is required (or --collector-keys)"))
                })
        };
        if self.kafka_brokers.is_some() {
            if !cfg!(feature = "kafka") {
                return Err(RecoError::Config(NO_KAFKA_BUILD.into()));
            }
            self.kafka_options()?;
        }
        // Reading Kafka needs no read key (the broker's own settings guard the topic).
        let read_key = if self.kafka_brokers.is_some() {
            need(&self.read_key, file.read_key, "--read-key").unwrap_or_default()
        } else {
            need(&self.read_key, file.read_key, "--read-key")?
        };
        Ok(Secrets {
            read_key,
            hash_secret: need(&self.hash_secret, file.hash_secret, "--hash-secret")?,
            project_hash_key: need(
                &self.project_hash_key,
                file.project_hash_key,
                "--project-hash-key",
            )?,
        })
    }
}
