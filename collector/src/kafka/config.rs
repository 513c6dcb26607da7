//! The sink's settings, flattened into the collector's `Config`.

use std::str::FromStr;

use clap::Args;

/// Settings of the producer that the sink owns: a passed option may not change them,
/// since they carry its guarantees (no loss, per-key order, no transactions).
pub const OWNED_OPTIONS: &[&str] = &[
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "transactional.id",
];

#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// Kafka bootstrap servers (`host:port,...`). When set, every record the local log
    /// makes durable is forwarded to `--kafka-topic` (needs the `kafka` build feature).
    #[arg(long = "kafka-brokers", env = "CAIRN_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Topic the records go to.
    #[arg(
        long = "kafka-topic",
        env = "CAIRN_KAFKA_TOPIC",
        default_value = "cairn-events"
    )]
    pub topic: String,
    /// librdkafka producer settings passed through, `KEY=VALUE` (repeatable; `;`
    /// between several in the environment variable), e.g. `security.protocol=SASL_SSL`.
    #[arg(
        long = "kafka-option",
        env = "CAIRN_KAFKA_OPTIONS",
        value_delimiter = ';'
    )]
    pub options: Vec<KafkaOption>,
    /// Bytes of records not yet forwarded that the local log may hold; past it ingest
    /// answers 503 with Retry-After until the broker has caught up.
    #[arg(
        long = "kafka-spool-bytes",
        env = "CAIRN_KAFKA_SPOOL_BYTES",
        default_value_t = 1024 * 1024 * 1024
    )]
    pub spool_bytes: u64,
}

/// One `KEY=VALUE` librdkafka setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOption {
    pub key: String,
    pub value: String,
}

impl FromStr for KafkaOption {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{s:?} has no key"));
        }
        if OWNED_OPTIONS.contains(&key) {
            return Err(format!(
                "{key} is set by the sink (idempotent producer, acks=all, no transactions)"
            ));
        }
        Ok(Self {
            key: key.to_owned(),
            value: value.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::Config;

    #[test]
    fn off_by_default_and_options_parse() {
        let config = Config::try_parse_from(["cairn-collector"]).unwrap();
        assert!(config.kafka.brokers.is_none());
        let config = Config::try_parse_from([
            "cairn-collector",
            "--kafka-brokers",
            "b1:9092,b2:9092",
            "--kafka-option",
            "linger.ms=20",
            "--kafka-option",
            "debug=broker,topic",
        ])
        .unwrap();
        assert_eq!(config.kafka.brokers.as_deref(), Some("b1:9092,b2:9092"));
        let options: Vec<_> = config
            .kafka
            .options
            .iter()
            .map(|o| (o.key.as_str(), o.value.as_str()))
            .collect();
        assert_eq!(options, [("linger.ms", "20"), ("debug", "broker,topic")]);
        for owned in ["acks=1", "enable.idempotence=false", "nokey"] {
            assert!(
                Config::try_parse_from(["cairn-collector", "--kafka-option", owned]).is_err(),
                "{owned}"
            );
        }
    }
}
