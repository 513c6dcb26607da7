//! The broker SIGKILLed mid-load and restarted on the same storage (tansu's PostgreSQL
//! engine, on a PostgreSQL cluster the test creates): ingest keeps acknowledging, the
//! collector keeps forwarding after the restart, every acknowledged messageId is in the
//! topic (at least once; deduplicated by messageId, exactly once), the records the
//! broker had before the kill keep their offsets, and a consumer group's committed
//! offsets survive the restart.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use cairn_testkit::{http_client, temp_dir};
use kafka_support::{
    batch, collector, ids_of, metric, poll_until, post, postgres::Postgres, Broker, Reader,
    TansuConfig,
};

const PARTITIONS: i32 = 3;
const TOPIC: &str = "restart";
const GROUP: &str = "cairn-restart-group";

/// Posts batches of 40 events until `stop`, remembering what was acknowledged. Every
/// post must be acknowledged: the broker's absence is the spool's business.
fn load(
    url: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
) {
    let client = http_client().build().unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        let body = batch("restart", 0..8, n, 5);
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
fn broker_sigkilled_and_restarted_on_its_storage_loses_nothing() {
    let dir = temp_dir("kafka-restart");
    let pg = Postgres::start(&dir);
    let mut broker = Broker::start_with(TansuConfig {
        storage_engine: pg.storage_engine(),
        log: Some(dir.join("tansu.log")),
        ..TansuConfig::default()
    });
    broker.create_topic(TOPIC, PARTITIONS as u32);
    let c = collector(&dir.join("collector"), &broker.address(), TOPIC, &[]);
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
    let forwarded_at_least = |n: f64| metric(&client, &c.url, "cairn_kafka_forwarded_total") >= n;
    assert!(
        poll_until(Duration::from_secs(120), || forwarded_at_least(400.0)),
        "nothing forwarded"
    );

    // A consumer of the group reads what is there and commits after "applying" it.
    let mut before =
        Reader::with_options(&broker.address(), TOPIC, PARTITIONS, &[("group.id", GROUP)]);
    assert!(
        before.read_until(Duration::from_secs(60), |got| got.len() >= 300),
        "the consumer read {} messages before the kill",
        before.got.len()
    );
    let committed = before.commit_read();
    let read_before: HashMap<(i32, i64), String> = before
        .got
        .iter()
        .map(|g| {
            (
                (g.partition, g.offset),
                g.header("messageId").unwrap_or("").to_owned(),
            )
        })
        .collect();
    drop(before);

    broker.kill9();
    // Ingest goes on with the broker gone, and the spool grows.
    let at_kill = count.load(Ordering::Acquire);
    assert!(
        poll_until(Duration::from_secs(60), || count.load(Ordering::Acquire)
            >= at_kill + 1000),
        "ingest did not go on while the broker was down"
    );
    assert!(poll_until(Duration::from_secs(30), || {
        metric(&client, &c.url, "cairn_kafka_forward_lag_records") > 0.0
    }));
    let forwarded_before_restart = metric(&client, &c.url, "cairn_kafka_forwarded_total");
    broker.restart();

    // The collector forwards again after the restart, with ingest still going.
    assert!(
        poll_until(Duration::from_secs(120), || {
            forwarded_at_least(forwarded_before_restart + 1000.0)
        }),
        "the collector did not forward after the broker's restart"
    );
    let at_restart = count.load(Ordering::Acquire);
    assert!(poll_until(Duration::from_secs(60), || count
        .load(Ordering::Acquire)
        >= at_restart + 1000));
    stop.store(true, Ordering::Release);
    loader.join().expect("load thread");
    let acked = acked.lock().unwrap().clone();

    // The group's committed offsets survived the restart.
    let mut resumed =
        Reader::with_options(&broker.address(), TOPIC, PARTITIONS, &[("group.id", GROUP)]);
    assert_eq!(
        resumed.committed(),
        committed,
        "the group's committed offsets after the broker's restart"
    );

    // Everything acknowledged is in the topic, and what was there keeps its offsets.
    let missing = resumed.wait_for_ids(&acked, Duration::from_secs(180));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing after the broker's restart, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    for g in &resumed.got {
        if let Some(id) = read_before.get(&(g.partition, g.offset)) {
            assert_eq!(
                g.header("messageId"),
                Some(id.as_str()),
                "partition {} offset {} changed across the restart",
                g.partition,
                g.offset
            );
        }
    }
    let ids = resumed.event_ids();
    let deduplicated: HashSet<&String> = ids.keys().collect();
    let acked_set: HashSet<&String> = acked.iter().collect();
    assert!(acked_set.is_subset(&deduplicated));
    eprintln!(
        "{} acknowledged ({} before the kill); {} distinct messageIds in the topic, {} sent \
         more than once (at least once; once after the consumer's messageId dedup)",
        acked.len(),
        at_kill,
        deduplicated.len(),
        ids.values().filter(|n| **n > 1).count()
    );
    assert!(poll_until(Duration::from_secs(60), || {
        metric(&client, &c.url, "cairn_kafka_forward_lag_records") == 0.0
    }));
}
