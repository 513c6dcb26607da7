//! The sink against the real tansu broker: events reach the topic once each, keyed by
//! the user's pseudonym (anonymousId when none) with messageId and source headers, in
//! per-user order on one partition; a deletion's tombstone reaches every partition.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::{collections::HashMap, time::Duration};

use cairn_testkit::{http_client, stored_user_id, temp_dir, ADMIN_KEY, WRITE_KEY_SOURCE};
use kafka_support::{batch, collector, ids_of, post, Broker, Reader};
use serde_json::json;

const PARTITIONS: i32 = 4;
const USERS: u32 = 12;
const PER_USER: u32 = 10;
const ROUNDS: u32 = 4;

#[test]
fn events_once_each_in_per_user_order_and_tombstones_on_every_partition() {
    let broker = Broker::start();
    broker.create_topic("events", PARTITIONS as u32);
    let dir = temp_dir("kafka-forward");
    let c = collector(&dir, &broker.address(), "events", &[]);
    let client = http_client().build().unwrap();

    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let body = batch("fw", 0..USERS, round * PER_USER, PER_USER);
        assert_eq!(post(&client, &c.url, &body).0, 200);
        acked.extend(ids_of(&body));
    }
    let anonymous = json!({"batch": [
        {"type": "track", "event": "view", "anonymousId": "anon-1", "messageId": "fw-anon-1"},
        {"type": "track", "event": "view", "anonymousId": "anon-1", "messageId": "fw-anon-2"}
    ]});
    assert_eq!(post(&client, &c.url, &anonymous).0, 200);
    acked.extend(ids_of(&anonymous));

    let mut reader = Reader::new(&broker.address(), "events", PARTITIONS);
    let total = acked.len();
    assert!(
        reader.read_until(Duration::from_secs(60), |got| got.len() >= total),
        "only {} of {total} messages arrived",
        reader.got.len()
    );
    let ids = reader.event_ids();
    for id in &acked {
        assert_eq!(ids.get(id), Some(&1), "{id} not in the topic exactly once");
    }
    assert_eq!(ids.len(), total, "messages nobody sent");

    // Per user: one key, one partition, increasing n in offset order.
    let mut per_user: HashMap<String, Vec<(i32, i64, u64)>> = HashMap::new();
    for g in &reader.got {
        assert_eq!(g.header("source"), Some(WRITE_KEY_SOURCE));
        assert_eq!(g.header("kind"), Some("event"));
        assert_eq!(g.value["messageId"].as_str(), g.header("messageId"));
        let n = g.value["properties"]["n"].as_u64().unwrap_or(0);
        per_user
            .entry(g.key.clone())
            .or_default()
            .push((g.partition, g.offset, n));
    }
    for u in 0..USERS {
        let key = stored_user_id(&format!("u{u}"));
        let mut seen = per_user
            .remove(&key)
            .expect("the user's pseudonym is the key");
        assert_eq!(seen.len(), (ROUNDS * PER_USER) as usize);
        assert!(
            seen.iter().all(|s| s.0 == seen[0].0),
            "u{u} on several partitions"
        );
        seen.sort_by_key(|s| s.1);
        let ns: Vec<u64> = seen.iter().map(|s| s.2).collect();
        let expected: Vec<u64> = (0..(ROUNDS * PER_USER) as u64).collect();
        assert_eq!(ns, expected, "u{u} out of order");
    }
    assert_eq!(per_user.remove("anon-1").map(|v| v.len()), Some(2));

    // Deleting u3: its tombstone on every partition, after its events there.
    let deleted = client
        .delete(format!("{}/v1/users/u3", c.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let user = stored_user_id("u3");
    let arrived = reader.read_until(Duration::from_secs(60), |got| {
        let tombstones = got.iter().filter(|g| g.header("kind") == Some("tombstone"));
        tombstones
            .map(|g| g.partition)
            .collect::<std::collections::HashSet<_>>()
            .len()
            == PARTITIONS as usize
    });
    assert!(arrived, "the tombstone did not reach every partition");
    for g in reader
        .got
        .iter()
        .filter(|g| g.header("kind") == Some("tombstone"))
    {
        assert_eq!(g.key, user);
        assert_eq!(g.value["userId"].as_str(), Some(user.as_str()));
        assert!(g.value["identities"]
            .as_array()
            .is_some_and(|a| !a.is_empty()));
        let last_event = reader
            .got
            .iter()
            .filter(|e| {
                e.partition == g.partition && e.key == user && e.header("kind") == Some("event")
            })
            .map(|e| e.offset)
            .max();
        assert!(
            last_event.is_none_or(|o| o < g.offset),
            "tombstone before the user's events"
        );
    }
}
