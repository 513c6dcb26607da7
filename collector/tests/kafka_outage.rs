//! The broker away while ingest goes on: the local log spools, ingest keeps
//! acknowledging, and once the broker is back every acknowledged messageId reaches the
//! topic (at least once; the consumer's messageId dedup gives once).
//!
//! "Stopped" is SIGSTOP (frozen, connections open, no answers) and SIGCONT: tansu's
//! memory engine forgets the topic when its process restarts, so a kill and restart
//! would lose what the broker had acknowledged, which is the broker's loss, not the
//! sink's. The case of a broker that is not there at all (connections refused) until
//! it starts is `broker_absent_then_started`.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use cairn_testkit::{http_client, temp_dir};
use kafka_support::{
    batch, collector, free_port, ids_of, metric, poll_until, post, Broker, Reader,
};

const PARTITIONS: i32 = 3;

/// Posts batches of 40 events until `stop`, remembering what was acknowledged.
fn load(
    url: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
) {
    let client = http_client().build().unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        let body = batch("out", 0..8, n, 5);
        n += 5;
        let (status, _) = post(&client, &url, &body);
        assert_eq!(
            status, 200,
            "ingest stopped acknowledging while the broker was away"
        );
        let ids = ids_of(&body);
        count.fetch_add(ids.len(), Ordering::AcqRel);
        acked.lock().unwrap().extend(ids);
    }
}

#[test]
fn broker_frozen_mid_load_then_resumed() {
    let broker = Broker::start();
    broker.create_topic("outage", PARTITIONS as u32);
    let dir = temp_dir("kafka-outage");
    let c = collector(&dir, &broker.address(), "outage", &[]);
    let client = http_client().build().unwrap();
    let (stop, acked, count) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(AtomicUsize::new(0)),
    );
    let loader = {
        let (url, stop, acked, count) = (c.url.clone(), stop.clone(), acked.clone(), count.clone());
        std::thread::spawn(move || load(url, stop, acked, count))
    };
    let forwarded = |n: f64| {
        let url = c.url.clone();
        let client = client.clone();
        move || metric(&client, &url, "cairn_kafka_forwarded_total") >= n
    };
    assert!(
        poll_until(Duration::from_secs(60), forwarded(200.0)),
        "nothing forwarded"
    );

    broker.freeze();
    let before = count.load(Ordering::Acquire);
    // Ingest goes on while the broker is frozen, and the spool grows.
    assert!(poll_until(Duration::from_secs(60), || count
        .load(Ordering::Acquire)
        >= before + 2000));
    assert!(metric(&client, &c.url, "cairn_kafka_spool_bytes") > 0.0);
    assert!(metric(&client, &c.url, "cairn_kafka_forward_lag_records") > 0.0);
    broker.thaw();

    let after = count.load(Ordering::Acquire);
    assert!(poll_until(Duration::from_secs(60), || count
        .load(Ordering::Acquire)
        >= after + 1000));
    stop.store(true, Ordering::Release);
    loader.join().expect("load thread");

    let acked = acked.lock().unwrap().clone();
    let mut reader = Reader::new(&broker.address(), "outage", PARTITIONS);
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let ids = reader.event_ids();
    let duplicates = ids.values().filter(|n| **n > 1).count();
    eprintln!(
        "{} acknowledged, {} in the topic, {duplicates} sent twice",
        acked.len(),
        ids.len()
    );
    assert!(poll_until(Duration::from_secs(30), || {
        metric(&client, &c.url, "cairn_kafka_forward_lag_records") == 0.0
    }));
}

#[test]
fn broker_absent_then_started() {
    let port = free_port();
    let dir = temp_dir("kafka-absent");
    let address = format!("127.0.0.1:{port}");
    let c = collector(&dir, &address, "late", &[]);
    let client = http_client().build().unwrap();
    let mut acked = Vec::new();
    for round in 0..10 {
        let body = batch("absent", 0..5, round * 4, 4);
        assert_eq!(post(&client, &c.url, &body).0, 200);
        acked.extend(ids_of(&body));
    }
    assert!(poll_until(Duration::from_secs(30), || {
        metric(&client, &c.url, "cairn_kafka_spool_bytes") > 0.0
    }));
    let broker = Broker::start_on(port);
    broker.create_topic("late", PARTITIONS as u32);
    let mut reader = Reader::new(&broker.address(), "late", PARTITIONS);
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing",
        missing.len()
    );
    assert!(poll_until(Duration::from_secs(30), || {
        metric(&client, &c.url, "cairn_kafka_spool_bytes") == 0.0
    }));
}
