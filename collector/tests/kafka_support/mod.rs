//! What the Kafka tests share: the real tansu broker (testkit's `TansuBroker`, a child
//! process on a free loopback port), an rdkafka consumer reading a topic back from its
//! start, a collector forwarding to it, and batches whose acknowledged messageIds are
//! remembered; a PostgreSQL cluster for the broker that keeps its data (`postgres`)
//! and a TLS front for it (`tls`).
//!
//! A missing tansu binary fails the test with the install command: never skipped.

#![allow(dead_code)]

pub mod postgres;
pub mod tls;

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

use cairn_testkit::{CollectorProcess, WRITE_KEY};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer},
    message::{Headers, Message as _},
    ClientConfig, Offset, TopicPartitionList,
};
use serde_json::{json, Value};

// Each test binary uses a different part of these.
#[allow(unused_imports)]
pub use cairn_testkit::tansu::{free_port, poll_until, TansuBroker as Broker, TansuConfig};

/// One message read back.
#[derive(Debug, Clone)]
pub struct Got {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: Value,
    pub headers: HashMap<String, String>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// An rdkafka consumer assigned every partition of a topic from the beginning.
pub struct Reader {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
    pub got: Vec<Got>,
}

impl Reader {
    pub fn new(broker: &str, topic: &str, partitions: i32) -> Self {
        Self::with_options(broker, topic, partitions, &[])
    }

    /// A reader with consumer settings added (e.g. `security.protocol`, `group.id`).
    pub fn with_options(
        broker: &str,
        topic: &str,
        partitions: i32,
        options: &[(&str, &str)],
    ) -> Self {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", broker)
            .set("group.id", "cairn-test-reader")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "20");
        for (key, value) in options {
            config.set(*key, *value);
        }
        let consumer: BaseConsumer = config.create().expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&assignment).expect("assign");
        Self {
            consumer,
            topic: topic.to_owned(),
            partitions,
            got: Vec::new(),
        }
    }

    /// Commits, for the reader's group, the offset after the last message read on each
    /// partition (as a consumer does after applying them); returns what it committed.
    pub fn commit_read(&self) -> HashMap<i32, i64> {
        let mut next = HashMap::new();
        for g in &self.got {
            let at = next.entry(g.partition).or_insert(0);
            *at = (*at).max(g.offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (p, o) in &next {
            offsets
                .add_partition_offset(&self.topic, *p, Offset::Offset(*o))
                .expect("offset");
        }
        self.consumer
            .commit(&offsets, CommitMode::Sync)
            .expect("commit offsets");
        next
    }

    /// The reader's group's committed offsets, as the broker reports them now.
    pub fn committed(&self) -> HashMap<i32, i64> {
        let committed = self
            .consumer
            .committed(Duration::from_secs(30))
            .expect("committed offsets");
        (0..self.partitions)
            .filter_map(
                |p| match committed.find_partition(&self.topic, p)?.offset() {
                    Offset::Offset(o) => Some((p, o)),
                    _ => None,
                },
            )
            .collect()
    }

    /// Reads until `done(all read so far)` or the timeout; returns whether `done` held.
    pub fn read_until(&mut self, timeout: Duration, mut done: impl FnMut(&[Got]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.got) {
            if Instant::now() >= deadline {
                return false;
            }
            if let Some(g) = self.poll_one(Duration::from_millis(200)) {
                self.got.push(g);
            }
        }
        true
    }

    /// The next message, if one comes within `timeout` (not kept in `got`).
    pub fn poll_one(&self, timeout: Duration) -> Option<Got> {
        match self.consumer.poll(timeout)? {
            Ok(m) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let value =
                                    h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                                (h.key.to_owned(), value.unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(Got {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    value: serde_json::from_slice(m.payload().unwrap_or_default())
                        .unwrap_or(Value::Null),
                    headers,
                })
            }
            Err(e) => {
                eprintln!("consumer: {e}");
                None
            }
        }
    }

    /// Reads until every id of `wanted` came as an event's messageId, or the timeout;
    /// returns those still missing.
    pub fn wait_for_ids(&mut self, wanted: &[String], timeout: Duration) -> Vec<String> {
        let mut missing: std::collections::HashSet<String> = wanted.iter().cloned().collect();
        for id in self.event_ids().keys() {
            missing.remove(id);
        }
        self.read_until(timeout, |got| {
            if let Some(id) = got.last().and_then(|g| g.header("messageId")) {
                missing.remove(id);
            }
            missing.is_empty()
        });
        let mut left: Vec<String> = missing.into_iter().collect();
        left.sort();
        left
    }

    /// The messageIds of the event messages read so far, with how often each came.
    pub fn event_ids(&self) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for g in &self.got {
            if g.header("kind") == Some("event") {
                *ids.entry(g.header("messageId").unwrap_or("").to_owned())
                    .or_default() += 1;
            }
        }
        ids
    }
}

/// A collector forwarding to `broker`'s `topic`, with the broker's reconnect quick.
pub fn collector(dir: &Path, broker: &str, topic: &str, extra: &[&str]) -> CollectorProcess {
    let mut args = cairn_testkit::tansu::collector_kafka_args(broker, topic);
    args.extend_from_slice(extra);
    CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), dir, &args)
}

/// A batch of `per_user` track events for each of `users` (`u<N>`), numbered from
/// `first` in `properties.n`, with messageIds `<tag>-<user>-<n>`.
pub fn batch(tag: &str, users: std::ops::Range<u32>, first: u32, per_user: u32) -> Value {
    let mut events = Vec::new();
    for n in first..first + per_user {
        for u in users.clone() {
            events.push(json!({
                "type": "track", "event": "view", "userId": format!("u{u}"),
                "anonymousId": format!("a{u}"), "messageId": format!("{tag}-u{u}-{n}"),
                "properties": {"n": n, "productId": "sku_1"}
            }));
        }
    }
    json!({ "batch": events })
}

/// The messageIds of a batch.
pub fn ids_of(batch: &Value) -> Vec<String> {
    batch["batch"]
        .as_array()
        .expect("batch")
        .iter()
        .map(|e| e["messageId"].as_str().expect("messageId").to_owned())
        .collect()
}

/// Posts a batch to `url`; the status and the Retry-After header. A failed connection
/// (a collector being killed) is status 0.
pub fn post(client: &reqwest::blocking::Client, url: &str, body: &Value) -> (u16, Option<String>) {
    match client
        .post(format!("{url}/v1/batch"))
        .basic_auth(WRITE_KEY, Some(""))
        .json(body)
        .send()
    {
        Ok(r) => {
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = r.status().as_u16();
            let _ = r.bytes();
            (status, retry)
        }
        Err(_) => (0, None),
    }
}

/// A metric's value from the collector's /metrics (0 when absent).
pub fn metric(client: &reqwest::blocking::Client, url: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}
