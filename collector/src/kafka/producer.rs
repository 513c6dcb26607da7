//! The librdkafka producer the sink uses. Its own settings come first and cannot be
//! overridden (`config::OWNED_OPTIONS`); passed options follow and win otherwise.
//!
//! - `enable.idempotence=true`, `acks=all`: a retried send is written once, in order;
//! - `message.timeout.ms=0`: a message is retried until the broker takes it, never
//!   dropped, so a later record of the same key cannot overtake it (the spool budget
//!   bounds what waits);
//! - `partitioner=murmur2_random`: the partition of a key is the one Java clients and
//!   Kafka Streams compute, whichever collector sends it.
//!
//! Since no delivery ever times out, a broker that cannot be reached (refused, TLS
//! not trusted, credentials refused) shows only through librdkafka's error callback:
//! `SinkContext` logs each such error with its reason and counts it by kind in
//! `cairn_kafka_broker_errors_total`, so a misconfiguration is named, not silent.

use rdkafka::{
    client::ClientContext,
    error::{KafkaError, RDKafkaErrorCode},
    producer::FutureProducer,
    ClientConfig,
};

use super::{
    metrics::{ERROR_AUTHENTICATION, ERROR_CONNECTION, ERROR_TLS},
    KafkaConfig, KafkaMetrics,
};
use crate::CollectorError;

/// The sink's producer type.
pub type SinkProducer = FutureProducer<SinkContext>;

/// Reports the client's errors (connections to brokers) as logs and metrics.
pub struct SinkContext {
    metrics: KafkaMetrics,
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let kind = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::SSL) => ERROR_TLS,
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                ERROR_AUTHENTICATION
            }
            _ => ERROR_CONNECTION,
        };
        self.metrics.broker_errors.with_label_values(&[kind]).inc();
        tracing::error!(kind, %error, reason, "kafka broker connection failed");
    }
}

pub fn client_config(config: &KafkaConfig, brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("client.id", "cairn-collector")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", "0")
        .set("reconnect.backoff.max.ms", "1000");
    for option in &config.options {
        c.set(&option.key, &option.value);
    }
    c.set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all");
    c
}

pub fn create(
    config: &KafkaConfig,
    brokers: &str,
    metrics: &KafkaMetrics,
) -> Result<SinkProducer, CollectorError> {
    client_config(config, brokers)
        .create_with_context(SinkContext {
            metrics: metrics.clone(),
        })
        .map_err(|e| CollectorError::Kafka(format!("producer: {e}")))
}
