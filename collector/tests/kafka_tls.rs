//! TLS to Kafka: the collector (librdkafka with the system OpenSSL) reaches the broker
//! only through TLS, trusting a test CA through its pass-through client settings
//! (`security.protocol=ssl`, `ssl.ca.location`), as it would a managed Kafka's listener.
//!
//! The broker is tansu in plaintext behind a TLS-terminating proxy (kafka_support::tls,
//! a test stand-in: tansu 0.6 does not serve TLS itself); tansu advertises the proxy's
//! address, so after bootstrap every connection is TLS as well.
//!
//! With a CA that did not sign the broker's certificate the collector forwards
//! nothing, counts and logs the failure as `tls`, and its spool keeps every
//! acknowledged event: restarted with the right CA it delivers them all.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::time::Duration;

use cairn_testkit::{http_client, temp_dir};
use kafka_support::{
    batch, collector, free_port, ids_of, metric, poll_until, post,
    tls::{TestCa, TlsProxy},
    Broker, Reader, TansuConfig,
};

const PARTITIONS: i32 = 2;
const TLS_ERRORS: &str = "cairn_kafka_broker_errors_total{kind=\"tls\"}";

/// A broker reachable only through TLS with `ca`'s certificate.
fn tls_broker(ca: &TestCa) -> (Broker, TlsProxy) {
    let port = free_port();
    let broker = Broker::start_with(TansuConfig {
        advertised: Some(format!("127.0.0.1:{port}")),
        ..TansuConfig::default()
    });
    let proxy = TlsProxy::start(ca, port, broker.address().parse().expect("broker address"));
    (broker, proxy)
}

fn tls_options(ca: &TestCa) -> [String; 2] {
    ["security.protocol=ssl".into(), ca.ca_option()]
}

#[test]
fn events_reach_the_topic_over_tls() {
    let dir = temp_dir("kafka-tls");
    let ca = TestCa::create(&dir, "right");
    let (broker, proxy) = tls_broker(&ca);
    broker.create_topic("tls", PARTITIONS as u32);
    let [protocol, ca_location] = tls_options(&ca);
    let c = collector(
        &dir.join("collector"),
        &proxy.address(),
        "tls",
        &["--kafka-option", &protocol, "--kafka-option", &ca_location],
    );
    let client = http_client().build().unwrap();
    let mut acked = Vec::new();
    for round in 0..5 {
        let body = batch("tls", 0..6, round * 10, 10);
        assert_eq!(post(&client, &c.url, &body).0, 200);
        acked.extend(ids_of(&body));
    }
    let ca_path = ca.ca_pem.to_str().expect("utf-8 path").to_owned();
    let mut reader = Reader::with_options(
        &proxy.address(),
        "tls",
        PARTITIONS,
        &[("security.protocol", "ssl"), ("ssl.ca.location", &ca_path)],
    );
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing",
        missing.len()
    );
    assert!(
        proxy.handshakes() >= 2,
        "the collector and the reader connected through TLS"
    );
    assert_eq!(metric(&client, &c.url, TLS_ERRORS), 0.0);
    assert!(poll_until(Duration::from_secs(30), || {
        metric(&client, &c.url, "cairn_kafka_spool_bytes") == 0.0
    }));
}

#[test]
fn a_wrong_ca_fails_clearly_and_the_spool_keeps_the_events() {
    let dir = temp_dir("kafka-tls-wrong-ca");
    let ca = TestCa::create(&dir, "right");
    let wrong = TestCa::create(&dir, "wrong");
    let (broker, proxy) = tls_broker(&ca);
    broker.create_topic("tls", PARTITIONS as u32);
    let data = dir.join("collector");
    let [protocol, wrong_ca] = tls_options(&wrong);
    let mut c = collector(
        &data,
        &proxy.address(),
        "tls",
        &["--kafka-option", &protocol, "--kafka-option", &wrong_ca],
    );
    let client = http_client().build().unwrap();
    let mut acked = Vec::new();
    for round in 0..5 {
        let body = batch("wrongca", 0..6, round * 10, 10);
        assert_eq!(post(&client, &c.url, &body).0, 200, "ingest acknowledges");
        acked.extend(ids_of(&body));
    }
    assert!(
        poll_until(Duration::from_secs(60), || {
            metric(&client, &c.url, TLS_ERRORS) > 0.0
        }),
        "no TLS error counted with a CA that did not sign the broker's certificate"
    );
    assert!(proxy.failed_handshakes() > 0);
    assert_eq!(metric(&client, &c.url, "cairn_kafka_forwarded_total"), 0.0);
    assert!(metric(&client, &c.url, "cairn_kafka_spool_bytes") > 0.0);
    assert_eq!(
        metric(&client, &c.url, "cairn_kafka_forward_lag_records"),
        acked.len() as f64,
        "every acknowledged event waits in the spool"
    );
    c.terminate();
    drop(c);

    let [protocol, right_ca] = tls_options(&ca);
    let c = collector(
        &data,
        &proxy.address(),
        "tls",
        &["--kafka-option", &protocol, "--kafka-option", &right_ca],
    );
    let ca_path = ca.ca_pem.to_str().expect("utf-8 path").to_owned();
    let mut reader = Reader::with_options(
        &proxy.address(),
        "tls",
        PARTITIONS,
        &[("security.protocol", "ssl"), ("ssl.ca.location", &ca_path)],
    );
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} spooled events missing once the CA was right",
        missing.len()
    );
    assert!(poll_until(Duration::from_secs(30), || {
        metric(&client, &c.url, "cairn_kafka_spool_bytes") == 0.0
    }));
}
