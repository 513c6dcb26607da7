//! The librdkafka producer the sink uses. Its own settings come first and cannot be
//! overridden (`config::OWNED_OPTIONS`); passed options follow and win otherwise.
//!
//! - `enable.idempotence=true`, `acks=all`: a retried send is written once, in order;
//! - `message.timeout.ms=0`: a message is retried until the broker takes it, never
//!   dropped, so a later record of the same key cannot overtake it (the spool budget
//!   bounds what waits);
//! - `partitioner=murmur2_random`: the partition of a key is the one Java clients and
//!   Kafka Streams compute, whichever collector sends it.

use rdkafka::{producer::FutureProducer, ClientConfig};

use super::KafkaConfig;
use crate::CollectorError;

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

pub fn create(config: &KafkaConfig, brokers: &str) -> Result<FutureProducer, CollectorError> {
    client_config(config, brokers)
        .create()
        .map_err(|e| CollectorError::Kafka(format!("producer: {e}")))
}
