//! Prometheus metrics, served as text at /metrics.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// A client key's alias of a previousId other than its own anonymousId.
pub const LINK_CLIENT_ALIAS: &str = "client_alias";
/// An anonymous id tied to a user who has the most allowed already.
pub const LINK_ANONYMOUS_CAP: &str = "anonymous_cap";

pub struct Metrics {
    registry: Registry,
    pub accepted: IntCounter,
    pub duplicates: IntCounter,
    pub rejected: IntCounterVec,
    pub links_refused: IntCounterVec,
    pub requests: HistogramVec,
    pub flush_seconds: Histogram,
    pub group_events: Histogram,
    pub inflight_bytes: IntGauge,
    pub connections_open: IntGauge,
    pub connections_refused: IntCounter,
    /// Ingest requests admitted and not answered (set when metrics are read).
    pub pending_requests: IntGauge,
    /// 1 while a standing queue holds admission to a quarter (set when read).
    pub queue_standing: IntGauge,
    /// The Kafka sink's (`crate::kafka`).
    pub kafka: crate::kafka::KafkaMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let accepted = IntCounter::new("cairn_events_accepted_total", "Events stored").unwrap();
        let duplicates = IntCounter::new(
            "cairn_events_duplicate_total",
            "Events acknowledged as duplicates of a stored messageId",
        )
        .unwrap();
        let rejected = IntCounterVec::new(
            Opts::new(
                "cairn_events_rejected_total",
                "Events or requests refused, by reason",
            ),
            &["reason"],
        )
        .unwrap();
        let links_refused = IntCounterVec::new(
            Opts::new(
                "cairn_identity_links_refused_total",
                "Identity links refused (their events kept), by reason",
            ),
            &["reason"],
        )
        .unwrap();
        for reason in [LINK_CLIENT_ALIAS, LINK_ANONYMOUS_CAP] {
            links_refused.with_label_values(&[reason]);
        }
        let requests = HistogramVec::new(
            HistogramOpts::new("cairn_request_duration_seconds", "Request latency by route")
                .buckets(latency_buckets()),
            &["route", "status"],
        )
        .unwrap();
        let flush_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "cairn_flush_duration_seconds",
                "Time to append and fsync one commit group",
            )
            .buckets(latency_buckets()),
        )
        .unwrap();
        let group_events = Histogram::with_opts(
            HistogramOpts::new("cairn_commit_group_events", "Events per commit group")
                .buckets(prometheus::exponential_buckets(1.0, 4.0, 9).unwrap()),
        )
        .unwrap();
        let inflight_bytes = IntGauge::new(
            "cairn_inflight_bytes",
            "Request bytes currently held by ingest",
        )
        .unwrap();
        let connections_open =
            IntGauge::new("cairn_connections_open", "Open HTTP connections").unwrap();
        let connections_refused = IntCounter::new(
            "cairn_connections_refused_total",
            "Connections answered 503 at once because --max-connections were open",
        )
        .unwrap();
        let pending_requests = IntGauge::new(
            "cairn_ingest_pending_requests",
            "Ingest requests admitted and not yet answered (--max-pending-requests)",
        )
        .unwrap();
        let queue_standing = IntGauge::new(
            "cairn_ingest_queue_standing",
            "1 while the queue delay has stayed over --queue-delay-target-ms",
        )
        .unwrap();
        for c in [
            Box::new(pending_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(queue_standing.clone()),
            Box::new(accepted.clone()),
            Box::new(duplicates.clone()),
            Box::new(rejected.clone()),
            Box::new(links_refused.clone()),
            Box::new(requests.clone()),
            Box::new(flush_seconds.clone()),
            Box::new(group_events.clone()),
            Box::new(inflight_bytes.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections_refused.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            kafka: crate::kafka::KafkaMetrics::new(&registry),
            registry,
            accepted,
            duplicates,
            rejected,
            links_refused,
            requests,
            flush_seconds,
            group_events,
            inflight_bytes,
            connections_open,
            connections_refused,
            pending_requests,
            queue_standing,
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("utf-8 metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    ]
}
