//! The Kafka sink: forwards every record the local log made durable (events and
//! tombstones) to one topic. Off unless `--kafka-brokers` is given; the code that talks
//! to a broker is compiled only with the `kafka` feature.
//!
//! Rules:
//! - the local log is the spool: ingest acknowledges on local durability alone, and the
//!   forwarder follows the log in commit order; past `--kafka-spool-bytes` of records
//!   not yet forwarded, ingest answers 503 with Retry-After (`Spool`);
//! - the forwarded position (`<data-dir>/kafka-forwarded`) advances, durably, only over
//!   records the broker acknowledged (acks=all, idempotent producer); a restart resumes
//!   from it, so a record is in the topic at least once;
//! - an event's message key is its (pseudonymised) userId, else its anonymousId, so one
//!   person's events keep their order on one partition; headers carry `messageId`,
//!   `source` and `kind`;
//! - a tombstone goes to every partition of the topic, after the user's events there.

mod config;
mod spool;

#[cfg(feature = "kafka")]
mod forwarder;
#[cfg(feature = "kafka")]
mod measure;
#[cfg(feature = "kafka")]
pub mod message;
mod metrics;
#[cfg(feature = "kafka")]
mod position;
#[cfg(feature = "kafka")]
mod producer;

use std::sync::Arc;

use tokio::sync::watch;

pub use config::{KafkaConfig, KafkaOption};
pub use metrics::KafkaMetrics;
pub use spool::{gate, Spool};

#[cfg(feature = "kafka")]
pub use forwarder::Forwarder;

/// What the forwarder takes from the running collector (`AppState::forwarder_inputs`).
pub struct ForwarderInputs {
    pub config: crate::Config,
    pub store: Arc<dyn crate::store::EventStore>,
    /// The newest durable cursor, advanced after every commit group.
    pub committed: watch::Receiver<u64>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub spool: Option<Arc<Spool>>,
}

/// Without the `kafka` feature there is nothing to start; asking for the sink is a
/// configuration error rather than a silent no-op.
#[cfg(not(feature = "kafka"))]
pub struct Forwarder;

#[cfg(not(feature = "kafka"))]
impl Forwarder {
    pub fn start(inputs: ForwarderInputs) -> Result<Option<Self>, crate::CollectorError> {
        match inputs.config.kafka.brokers {
            None => Ok(None),
            Some(_) => Err(crate::CollectorError::Config(
                "--kafka-brokers needs a collector built with the `kafka` feature".into(),
            )),
        }
    }

    pub async fn stop(self) {}
}
