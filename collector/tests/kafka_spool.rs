//! The spool's budget: with no broker, ingest acknowledges until the records not yet
//! forwarded reach `--kafka-spool-bytes`, then answers 503 with Retry-After; once a
//! broker is there the spool drains, ingest acknowledges again, and nothing that was
//! acknowledged is missing from the topic.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::time::Duration;

use cairn_testkit::{http_client, temp_dir};
use kafka_support::{
    batch, collector, free_port, ids_of, metric, poll_until, post, Broker, Reader,
};

#[test]
fn spool_full_is_503_with_retry_after_and_nothing_acknowledged_is_lost() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let dir = temp_dir("kafka-spool");
    let c = collector(
        &dir,
        &address,
        "spool",
        &["--kafka-spool-bytes", "200000", "--retry-after-secs", "2"],
    );
    let client = http_client().build().unwrap();

    let mut acked = Vec::new();
    let mut refused = None;
    let mut round = 0;
    // Each batch is about 12 KB of feed lines: the budget is reached within a few dozen.
    let full = poll_until(Duration::from_secs(60), || {
        let body = batch("spool", 0..10, round * 5, 5);
        round += 1;
        match post(&client, &c.url, &body) {
            (200, _) => {
                acked.extend(ids_of(&body));
                false
            }
            (503, retry_after) => {
                refused = Some(retry_after);
                true
            }
            (status, _) => panic!("unexpected status {status}"),
        }
    });
    assert!(full, "the spool never filled");
    assert_eq!(
        refused,
        Some(Some("2".to_owned())),
        "503 without Retry-After: 2"
    );
    assert!(metric(&client, &c.url, "cairn_kafka_spool_bytes") >= 200_000.0);
    assert!(metric(&client, &c.url, "cairn_kafka_spool_full_total") >= 1.0);
    // Reads and probes still answer.
    assert_eq!(
        client
            .get(format!("{}/healthz", c.url))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    let broker = Broker::start_on(port);
    broker.create_topic("spool", 2);
    let mut round = 1000;
    let accepted = poll_until(Duration::from_secs(120), || {
        let body = batch("spool", 0..10, round * 5, 5);
        round += 1;
        match post(&client, &c.url, &body) {
            (200, _) => {
                acked.extend(ids_of(&body));
                true
            }
            _ => false,
        }
    });
    assert!(accepted, "ingest did not resume once the broker was there");
    let mut reader = Reader::new(&broker.address(), "spool", 2);
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing",
        missing.len()
    );
}
