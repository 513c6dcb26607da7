//! The Kafka input end to end: real collectors (the workspace's `cairn-collector`, built
//! with its `kafka` feature) forward to the real tansu broker (testkit's `TansuBroker`),
//! and `cairn-recommender` processes read the topic as members of one consumer group.
//! So the records are exactly what the collector's sink produces (key = the stored
//! userId, headers `kind`, `messageId`, `source`, a tombstone copied to every partition).
//!
//! What is shown:
//! - two members share a 4-partition topic: every record is applied once across them
//!   (totals and every user's per-event counts, summed over the members, equal what was
//!   posted); an event posted to a second collector too (a client's retry through
//!   another collector: same messageId, same key, same partition) is skipped;
//! - a deletion at the collector removes the person's profile from whichever member
//!   holds it within a second of the collector's answer;
//! - a member SIGKILLed mid-load: the other member reads its partitions on from the
//!   group's committed offsets; nothing is lost, and nothing is doubled but the records
//!   of the documented window (applied in the killed member's last snapshot, not yet
//!   committed), counted exactly;
//! - offsets are committed only once the snapshot holding them landed, and a member
//!   SIGKILLed and restarted resumes from its snapshot without applying anything twice.

#![cfg(feature = "kafka")]

mod support;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use cairn_testkit::{
    stored_user_id,
    tansu::{poll_until, TansuBroker},
    CollectorProcess,
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    message::{Headers, Message},
    ClientConfig, Offset, TopicPartitionList,
};
use serde_json::{json, Value};
use support::*;

const PARTITIONS: i32 = 4;
const GROUP: &str = "reco-test";
const USERS: usize = 16;
/// Rebalances on tansu take seconds; a group forming is waited for this long.
const GROUP_DEADLINE: Duration = Duration::from_secs(120);

/// A collector forwarding to `topic`, with the broker's reconnect quick.
fn kafka_collector(dir: &Path, broker: &str, topic: &str) -> CollectorProcess {
    let args = cairn_testkit::tansu::collector_kafka_args(broker, topic);
    CollectorProcess::start(cairn_testkit::collector_bin(), dir, &args)
}

fn member(dir: &Path, broker: &str, topic: &str) -> Reco {
    Reco::start(
        dir,
        "http://127.0.0.1:9",
        &[
            "--api-key",
            API_KEY,
            "--kafka-brokers",
            broker,
            "--kafka-topic",
            topic,
            "--kafka-group",
            GROUP,
            "--snapshot-ms",
            "100",
        ],
    )
}

/// What was posted: events by (stored userId, event name).
#[derive(Default)]
struct Sent {
    total: u64,
    by_user: BTreeMap<(String, String), u64>,
}

impl Sent {
    fn add(&mut self, events: &[Value]) {
        for e in events {
            self.total += 1;
            let user = stored_user_id(e["userId"].as_str().unwrap());
            let name = e["event"].as_str().unwrap().to_owned();
            *self.by_user.entry((user, name)).or_default() += 1;
        }
    }
}

/// `n` events per user, numbered from `first`, with messageIds `<tag>-<user>-<i>`.
fn events(tag: &str, first: usize, n: usize) -> Vec<Value> {
    let names = [
        "product_viewed",
        "product_clicked",
        "add_to_cart",
        "page_view",
    ];
    let mut out = Vec::new();
    for i in first..first + n {
        for u in 0..USERS {
            let mut e = track(
                Some(&format!("user-{u}")),
                &format!("anon-{u}"),
                names[(i + u) % names.len()],
                product(
                    &format!("p{}", (i * 7 + u) % 25),
                    &format!("c{}", u % 3),
                    20.0,
                ),
                true,
            );
            e["messageId"] = json!(format!("{tag}-{u}-{i}"));
            out.push(e);
        }
    }
    out
}

fn stats(r: &Reco) -> Value {
    r.ok("/api/v1/stats")
}

fn num(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, p| &v[*p]).as_u64().unwrap_or(0)
}

fn stat(r: &Reco, path: &[&str]) -> u64 {
    num(&stats(r), path)
}

/// Every user's counts summed over the members.
fn counts(members: &[&Reco]) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for u in 0..USERS {
        for m in members {
            let (status, p) = m.get(&format!("/api/v1/users/user-{u}/profile"));
            if status != 200 {
                continue;
            }
            let id = p["user_id"].as_str().unwrap().to_owned();
            for (name, n) in p["event_counts"].as_object().unwrap() {
                *out.entry((id.clone(), name.clone())).or_default() += n.as_u64().unwrap();
            }
        }
    }
    out
}

fn events_applied(members: &[&Reco]) -> u64 {
    members.iter().map(|m| stat(m, &["totals", "events"])).sum()
}

/// Waits until the members' event totals reach `total` and every member says it is
/// caught up (its last poll found nothing new).
fn wait_applied(members: &[&Reco], total: u64) {
    let reached = poll_until(GROUP_DEADLINE, || events_applied(members) >= total);
    if !reached {
        for m in members {
            println!("member {}: {}", m.url, stats(m));
        }
    }
    assert!(
        reached,
        "{total} events applied by the group: {}",
        events_applied(members)
    );
    wait_for("every member caught up", || {
        members
            .iter()
            .all(|m| m.get("/readyz").0 == 200)
            .then_some(())
    });
}

/// Waits until the members hold every partition between them, each at least `least`.
fn wait_holding(members: &[&Reco], least: u64) {
    let held = || {
        let each: Vec<u64> = members
            .iter()
            .map(|m| stat(m, &["kafka_partitions"]))
            .collect();
        each.iter().sum::<u64>() == PARTITIONS as u64 && each.iter().all(|n| *n >= least)
    };
    let t = Instant::now();
    assert!(
        poll_until(GROUP_DEADLINE, held),
        "the members hold the {PARTITIONS} partitions"
    );
    println!("group formed in {:?}", t.elapsed());
}

/// `topic:partition` -> offset, from a JSON object.
fn offsets(v: &Value) -> BTreeMap<String, i64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

/// The offsets in a member's committed snapshot (its manifest on disk).
fn manifest_offsets(dir: &Path) -> BTreeMap<String, i64> {
    match std::fs::read(dir.join("manifest.json")) {
        Ok(bytes) => offsets(&serde_json::from_slice::<Value>(&bytes).unwrap()["offsets"]),
        Err(_) => BTreeMap::new(),
    }
}

/// A plain consumer of the test (its own group, never joined): reads the group's
/// committed offsets and the topic's records.
fn test_consumer(broker: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .create()
        .expect("consumer")
}

/// The group's committed offsets, `topic:partition` -> offset.
fn committed(c: &BaseConsumer, topic: &str) -> BTreeMap<String, i64> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("committed offsets");
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((format!("{topic}:{}", e.partition()), o)),
            _ => None,
        })
        .collect()
}

/// The topic's event records as (partition, offset) -> (stored userId, event name).
fn read_topic(
    c: &BaseConsumer,
    topic: &str,
    count: usize,
) -> BTreeMap<(i32, i64), (String, String)> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).expect("assign");
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + DEADLINE;
    while out.len() < count && Instant::now() < deadline {
        let Some(m) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.expect("read");
        let kind = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "kind").and_then(|h| h.value))
            .unwrap_or_default();
        if kind != b"event" {
            continue;
        }
        let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        out.insert(
            (m.partition(), m.offset()),
            (
                v["userId"].as_str().unwrap().to_owned(),
                v["event"].as_str().unwrap().to_owned(),
            ),
        );
    }
    assert_eq!(out.len(), count, "every event read back from the topic");
    out
}

#[test]
fn members_apply_each_record_once_skip_duplicates_and_forget_within_a_second() {
    let dir = cairn_testkit::temp_dir("reco-kafka-group");
    let broker = TansuBroker::start();
    let topic = "reco-group";
    broker.create_topic(topic, PARTITIONS as u32);
    let address = broker.address();
    let c1 = kafka_collector(&dir.join("collector-1"), &address, topic);
    let c2 = kafka_collector(&dir.join("collector-2"), &address, topic);
    let a = member(&dir.join("reco-a"), &address, topic);
    let b = member(&dir.join("reco-b"), &address, topic);
    wait_holding(&[&a, &b], 1);

    // 320 events through collector 1; the first 40 again through collector 2.
    let batch = events("g", 0, 20);
    let mut sent = Sent::default();
    sent.add(&batch);
    post(&c1, batch.clone());
    post(&c2, batch[..40].to_vec());
    wait_applied(&[&a, &b], sent.total);
    let dups = || stat(&a, &["duplicates_skipped"]) + stat(&b, &["duplicates_skipped"]);
    assert!(
        poll_until(DEADLINE, || dups() >= 40),
        "40 duplicates read: {}",
        dups()
    );
    assert_eq!(dups(), 40, "each duplicate skipped once");
    assert_eq!(
        events_applied(&[&a, &b]),
        sent.total,
        "every record applied once across the group"
    );
    assert_eq!(counts(&[&a, &b]), sent.by_user);
    let (ea, eb) = (
        stat(&a, &["totals", "events"]),
        stat(&b, &["totals", "events"]),
    );
    println!("member a applied {ea}, member b {eb} (of {})", sent.total);
    assert!(ea > 0 && eb > 0, "both members applied some");

    // A deletion at collector 1: the tombstone reaches every partition.
    let gone = "user-5";
    let path = format!("/api/v1/users/{gone}/profile");
    let holders = || [&a, &b].iter().filter(|m| m.get(&path).0 == 200).count();
    assert_eq!(holders(), 1, "one member holds {gone}'s profile");
    let deleted = cairn_testkit::http_client()
        .build()
        .unwrap()
        .delete(format!("{}/v1/users/{gone}", c1.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let t = Instant::now();
    let forgotten = poll_until(Duration::from_secs(1), || holders() == 0);
    println!(
        "deletion answered -> profile gone on its member: {:?}",
        t.elapsed()
    );
    assert!(forgotten, "{gone}'s profile removed within 1 s");
    // Every member got a copy on each of its partitions, and counts it once.
    wait_for("both members read the tombstone", || {
        (stat(&a, &["totals", "tombstones"]) == 1 && stat(&b, &["totals", "tombstones"]) == 1)
            .then_some(())
    });
    let mut left = sent.by_user.clone();
    left.retain(|(user, _), _| *user != stored_user_id(gone));
    assert_eq!(
        counts(&[&a, &b]),
        left,
        "the others' profiles are untouched"
    );
}

/// The group's members as the broker lists them.
fn group_members(c: &BaseConsumer) -> usize {
    c.fetch_group_list(Some(GROUP), Duration::from_secs(10))
        .ok()
        .and_then(|l| l.groups().first().map(|g| g.members().len()))
        .unwrap_or(0)
}

/// A consumer of the group, subscribed to another topic, joins and leaves: the join
/// makes tansu form the group again. (tansu 0.6.0 removes a dead member at the
/// survivor's next heartbeat after `session.timeout.ms`, but answers the survivor's
/// rejoin with the same generation and the old assignment, `Inner<Formed>::join` and
/// `sync` in its coordinator's administrator.rs, until some member joins; Apache Kafka
/// rebalances by itself at that point.) It holds none of the test topic's partitions.
fn make_tansu_rebalance(broker: &str, other_topic: &str) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("partition.assignment.strategy", "range")
        .create()
        .expect("consumer");
    c.subscribe(&[other_topic]).expect("subscribe");
    let joined = poll_until(GROUP_DEADLINE, || {
        c.poll(Duration::from_millis(50));
        c.assignment().is_ok_and(|a| a.count() > 0)
    });
    assert!(joined, "the extra consumer joined the group");
    drop(c);
}

/// Waits until member `a`, alone in the group, holds every partition. An instance that
/// was SIGKILLed stays in the group until its session ends, and the one started after it
/// may be given nothing until tansu forms the group again, which it does only when some
/// member joins (see make_tansu_rebalance): then one joins and leaves.
fn hold_all_alone(a: &Reco, reader: &BaseConsumer, broker: &str, other_topic: &str) {
    assert!(
        poll_until(GROUP_DEADLINE, || group_members(reader) == 1),
        "the group is down to one member"
    );
    let alone = || stat(a, &["kafka_partitions"]) == PARTITIONS as u64;
    if !poll_until(Duration::from_secs(15), alone) {
        println!("tansu formed the group again only after a join");
        make_tansu_rebalance(broker, other_topic);
        assert!(
            poll_until(GROUP_DEADLINE, alone),
            "the member holds every partition: {}",
            stats(a)
        );
    }
}

#[test]
fn a_member_killed_mid_load_loses_nothing_and_doubles_only_its_window() {
    let dir = cairn_testkit::temp_dir("reco-kafka-kill");
    let broker = TansuBroker::start();
    let topic = "reco-kill";
    broker.create_topic(topic, PARTITIONS as u32);
    broker.create_topic("reco-kill-other", 1);
    let address = broker.address();
    let collector = kafka_collector(&dir.join("collector"), &address, topic);
    // Member a first (the group's leader, which assigns), then member b, killed below.
    let a = member(&dir.join("reco-a"), &address, topic);
    wait_holding(&[&a], PARTITIONS as u64);
    let mut b = member(&dir.join("reco-b"), &address, topic);
    wait_holding(&[&a, &b], 1);

    // Rounds of 32 events go on until 10 rounds after member b is killed.
    let killed = AtomicBool::new(false);
    let sent = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut sent = Sent::default();
            let mut after_kill = 0;
            for round in 0..2000 {
                let batch = events(&format!("k{round}"), round * 2, 2);
                sent.add(&batch);
                post(&collector, batch);
                if killed.load(Ordering::SeqCst) {
                    after_kill += 1;
                    if after_kill == 10 {
                        break;
                    }
                }
            }
            sent
        });
        wait_for("member b applying, its snapshots landing", || {
            let s = stats(&b);
            (num(&s, &["totals", "events"]) >= 200 && num(&s, &["snapshots", "written"]) >= 3)
                .then_some(())
        });
        b.kill9();
        killed.store(true, Ordering::SeqCst);
        println!("member b SIGKILLed mid-load");
        load.join().unwrap()
    });
    let own = manifest_offsets(&b.data_dir);
    println!("member b's snapshot on disk: {own:?}");
    assert!(
        !own.is_empty(),
        "member b's snapshot holds its partitions' offsets"
    );

    // The survivor takes member b's partitions over once its session has ended.
    let t = Instant::now();
    let reader = test_consumer(&address);
    assert!(
        poll_until(GROUP_DEADLINE, || group_members(&reader) == 1),
        "the broker dropped the dead member"
    );
    println!("dead member dropped {:?} after the kill", t.elapsed());
    make_tansu_rebalance(&address, "reco-kill-other");
    assert!(
        poll_until(GROUP_DEADLINE, || stat(&a, &["kafka_partitions"])
            == PARTITIONS as u64),
        "member a holds every partition after member b's death: {}",
        stats(&a)
    );
    println!(
        "member a took every partition {:?} after the kill",
        t.elapsed()
    );
    let placed = offsets(&stats(&a)["kafka_placed"]);

    // The window: what member b's last snapshot holds past the offsets the group had
    // committed (where member a started) is in both members' states; nothing else.
    let topic_events = read_topic(&reader, topic, sent.total as usize);
    let mut expected = sent.by_user.clone();
    let mut doubled = 0;
    for (key, until) in &own {
        let (_, p) = key.rsplit_once(':').unwrap();
        let p: i32 = p.parse().unwrap();
        let from = placed.get(key).copied().unwrap_or(0);
        if *until <= from {
            continue;
        }
        for (_, (user, name)) in topic_events.range((p, from)..(p, *until)) {
            *expected.entry((user.clone(), name.clone())).or_default() += 1;
            doubled += 1;
        }
    }
    println!("records in the window (in b's snapshot, not committed): {doubled}");

    // Member b comes back; the group rebalances; between them they hold everything.
    b.restart();
    wait_holding(&[&a, &b], 1);
    wait_applied(&[&a, &b], sent.total + doubled);
    assert_eq!(
        events_applied(&[&a, &b]),
        sent.total + doubled,
        "every record once, the window's twice"
    );
    assert_eq!(counts(&[&a, &b]), expected);
}

#[test]
fn offsets_follow_the_snapshot_and_a_restart_resumes_without_reapplying() {
    let dir = cairn_testkit::temp_dir("reco-kafka-restart");
    let broker = TansuBroker::start();
    let topic = "reco-restart";
    broker.create_topic(topic, PARTITIONS as u32);
    broker.create_topic("reco-restart-other", 1);
    let address = broker.address();
    let collector = kafka_collector(&dir.join("collector"), &address, topic);
    let mut a = member(&dir.join("reco-a"), &address, topic);
    wait_holding(&[&a], PARTITIONS as u64);
    let reader = test_consumer(&address);

    // While records stream in, the group's committed offsets never pass the snapshot:
    // read the committed offsets first, then the manifest. Once the group has committed
    // 200 records, SIGKILL and start the same member on the same data dir; 10 rounds more.
    let mut sent = Sent::default();
    let mut checks = 0;
    let mut after_restart = None;
    for round in 0..2000 {
        let batch = events(&format!("r{round}"), round * 2, 2);
        sent.add(&batch);
        post(&collector, batch);
        let group = committed(&reader, topic);
        let disk = manifest_offsets(&a.data_dir);
        for (key, offset) in &group {
            let on_disk = disk.get(key).copied().unwrap_or(0);
            assert!(
                *offset <= on_disk,
                "{key}: committed {offset} past the snapshot's {on_disk}"
            );
            checks += 1;
        }
        match after_restart {
            None if group.values().sum::<i64>() >= 200 => {
                a.restart();
                println!("member SIGKILLed and started again after round {round}");
                after_restart = Some(0);
            }
            Some(10) => break,
            Some(n) => after_restart = Some(n + 1),
            None => {}
        }
    }
    assert!(
        after_restart.is_some(),
        "the group committed offsets during the load"
    );
    println!("{checks} committed offsets checked against the snapshot");
    hold_all_alone(&a, &reader, &address, "reco-restart-other");
    wait_applied(&[&a], sent.total);
    assert_eq!(
        stat(&a, &["totals", "events"]),
        sent.total,
        "nothing applied twice"
    );
    assert_eq!(counts(&[&a]), sent.by_user);

    // A clean stop commits what it snapshotted; the next start reads nothing again.
    let last = stats(&a);
    a.terminate();
    let group = committed(&reader, topic);
    assert_eq!(
        group,
        manifest_offsets(&a.data_dir),
        "the last snapshot's offsets committed"
    );
    let applied_before = num(&last, &["totals", "events"]);
    a = member(&a.data_dir.clone(), &address, topic);
    hold_all_alone(&a, &reader, &address, "reco-restart-other");
    wait_applied(&[&a], sent.total);
    assert_eq!(stat(&a, &["totals", "events"]), applied_before);
    assert_eq!(
        stat(&a, &["records_read"]),
        0,
        "no record read again after a clean stop"
    );
}

#[test]
fn a_setting_the_guarantees_rest_on_is_refused_before_listening() {
    let dir = cairn_testkit::temp_dir("reco-kafka-options");
    for option in [
        "enable.auto.commit=true",
        "group.id=other",
        "fetch.wait.max.ms",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn-recommender"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("reco"))
            .args([
                "--hash-secret",
                HASH_SECRET,
                "--project-hash-key",
                PROJECT_HASH_KEY,
            ])
            .args(["--kafka-brokers", "127.0.0.1:9", "--kafka-option", option])
            .output()
            .expect("run cairn-recommender");
        assert!(!out.status.success(), "{option} accepted");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("listening"), "{option}: listened first");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--kafka-option"), "{option}: {stderr}");
    }
}
