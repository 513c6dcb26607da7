//! The sink's Prometheus metrics, registered with the collector's (all zero while the
//! sink is off).

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Broker error kinds counted in `cairn_kafka_broker_errors_total{kind}`.
pub const ERROR_DELIVERY: &str = "delivery";
pub const ERROR_CLIENT: &str = "client";
pub const ERROR_METADATA: &str = "metadata";
/// A broker connection failed in TLS (e.g. the broker's certificate is not trusted).
pub const ERROR_TLS: &str = "tls";
/// A broker refused the client's credentials (SASL).
pub const ERROR_AUTHENTICATION: &str = "authentication";
/// Any other failed broker connection (refused, reset, name not resolved).
pub const ERROR_CONNECTION: &str = "connection";

#[derive(Clone)]
pub struct KafkaMetrics {
    pub forwarded: IntCounter,
    pub lag_records: IntGauge,
    pub lag_seconds: Gauge,
    pub delay_seconds: Histogram,
    pub spool_bytes: IntGauge,
    pub spool_full: IntCounter,
    pub broker_errors: IntCounterVec,
}

impl KafkaMetrics {
    pub fn new(registry: &Registry) -> Self {
        let m = Self {
            forwarded: IntCounter::new(
                "cairn_kafka_forwarded_total",
                "Records the broker acknowledged",
            )
            .unwrap(),
            lag_records: IntGauge::new(
                "cairn_kafka_forward_lag_records",
                "Cursors between the newest durable record and the forwarded position",
            )
            .unwrap(),
            lag_seconds: Gauge::new(
                "cairn_kafka_forward_lag_seconds",
                "Age of the oldest record being forwarded (0 when caught up)",
            )
            .unwrap(),
            delay_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "cairn_kafka_forward_delay_seconds",
                    "From an event's receivedAt to the broker's acknowledgement",
                )
                .buckets(vec![
                    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                    30.0, 60.0, 300.0,
                ]),
            )
            .unwrap(),
            spool_bytes: IntGauge::new(
                "cairn_kafka_spool_bytes",
                "Bytes of records in the local log not yet forwarded",
            )
            .unwrap(),
            spool_full: IntCounter::new(
                "cairn_kafka_spool_full_total",
                "Ingest requests refused with 503 because the spool was full",
            )
            .unwrap(),
            broker_errors: IntCounterVec::new(
                Opts::new(
                    "cairn_kafka_broker_errors_total",
                    "Failed deliveries, client errors, metadata failures and failed broker connections",
                ),
                &["kind"],
            )
            .unwrap(),
        };
        for kind in [
            ERROR_DELIVERY,
            ERROR_CLIENT,
            ERROR_METADATA,
            ERROR_TLS,
            ERROR_AUTHENTICATION,
            ERROR_CONNECTION,
        ] {
            m.broker_errors.with_label_values(&[kind]);
        }
        for c in [
            Box::new(m.forwarded.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.lag_records.clone()),
            Box::new(m.lag_seconds.clone()),
            Box::new(m.delay_seconds.clone()),
            Box::new(m.spool_bytes.clone()),
            Box::new(m.spool_full.clone()),
            Box::new(m.broker_errors.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        m
    }
}
