//! The collector SIGKILLed again and again while it forwards: every acknowledged event
//! is in the topic afterwards. The position is stored only after the broker's
//! acknowledgement, so a restart sends again what it cannot know was taken (the
//! consumer's messageId dedup removes those copies).

#![cfg(feature = "kafka")]

mod kafka_support;

use std::time::Duration;

use cairn_testkit::{http_client, temp_dir};
use kafka_support::{batch, collector, ids_of, metric, post, Broker, Reader};

fn rounds() -> u32 {
    std::env::var("CAIRN_KAFKA_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

#[test]
fn sigkill_while_forwarding_loses_nothing_acknowledged() {
    let broker = Broker::start();
    broker.create_topic("crash", 3);
    let dir = temp_dir("kafka-crash");
    let mut c = collector(&dir, &broker.address(), "crash", &[]);
    let client = http_client().build().unwrap();
    let mut acked = Vec::new();
    let mut killed_behind = 0;
    for round in 0..rounds() {
        // Several large batches, then the kill right after the last acknowledgement:
        // the forwarder is then still sending them.
        for part in 0..4 {
            let body = batch(&format!("crash{round}"), 0..20, part * 25, 25);
            let (status, _) = post(&client, &c.url, &body);
            assert_eq!(status, 200);
            acked.extend(ids_of(&body));
        }
        if metric(&client, &c.url, "cairn_kafka_forward_lag_records") > 0.0 {
            killed_behind += 1;
        }
        c.restart();
    }
    eprintln!(
        "{killed_behind} of {} kills came while records were not yet forwarded",
        rounds()
    );
    let mut reader = Reader::new(&broker.address(), "crash", 3);
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(180));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let ids = reader.event_ids();
    eprintln!(
        "{} acknowledged; {} sent more than once (at least once, deduplicated by messageId downstream)",
        acked.len(),
        ids.values().filter(|n| **n > 1).count()
    );
}
