//! The Kafka input (feature `kafka`): instead of following the collector's HTTP feed,
//! the service is a member of a consumer group on the topic the collector forwards to
//! (`--kafka-brokers`, `--kafka-topic`, `--kafka-group`). Several instances in one group
//! share the topic's partitions; since the collector keys a person's events by their
//! pseudonym, each instance holds the profiles of its partitions' people.
//!
//! Rules:
//! - the position is the next offset per `topic:partition`, kept in the model and so in
//!   its snapshot: it always agrees with the state on disk;
//! - offsets are committed to the group only after the snapshot holding them landed
//!   (after applying, and after it is durable), and only for the partitions held at that
//!   moment (a partition another member took over carries that member's offsets, which
//!   ours would move back): a kill loses at most what was applied since the snapshot,
//!   which the next owner reads again from the committed offsets;
//! - on being assigned a partition, reading starts at the larger of the instance's own
//!   offset and the group's committed one: its own when it got further than it could
//!   commit, the group's when another member went on meanwhile (then the records in
//!   between count in that member's state, not here);
//! - on losing partitions (a rebalance, a clean stop), the instance first makes
//!   everything it applied durable and commits it, synchronously, so the next owner
//!   starts where it stopped; messages read before a rebalance and not yet applied are
//!   dropped (a partition that comes back is read again from the position);
//! - a record at an offset below the position is skipped; an event whose messageId was
//!   applied within the last `--kafka-dedup-window` ids is skipped too (a retry may reach
//!   the topic twice through two collectors). Either way the position moves past it;
//! - a tombstone comes once per partition: every copy is applied (forgetting is
//!   idempotent, and a copy follows its partition's events of the person, which another
//!   copy may have overtaken) and counted once (its content is in the window).
//!
//! Exactly once across the group holds except in one window: a kill between a snapshot
//! landing and the commit of its offsets (the next poll round), after which another
//! member takes the partitions over. The records between the last committed offsets and
//! that snapshot are then in both members' states. Kafka transactions could close it
//! (commit the offsets with the state), but the state is in files, not in Kafka.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use cairn_protocol::feed::{kafka_header, FeedRecord, RecordKind};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext},
    message::{Headers, Message},
    types::RDKafkaRespErr,
    ClientConfig, ClientContext, Offset, TopicPartitionList,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::{
    follower::take_cut,
    model::{prepare, shards::fnv1a, Ctx, Effect, Prepared},
    snapshot::Writer,
    AppState, RecoError,
};

const CHUNK: usize = 32;
/// Messages taken per round before applying them.
const BATCH: usize = 2000;
const POLL: Duration = Duration::from_millis(100);
/// The wait while a cut is being written: its offsets are committed at the first round
/// after it lands, and the exactly-once window lasts until then.
const POLL_PENDING: Duration = Duration::from_millis(5);
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// One message, copied out of the consumer.
struct Msg {
    /// [`Inner::generation`] when it was read.
    generation: u64,
    partition: i32,
    offset: i64,
    /// FNV-1a of the messageId (events) or of the content (tombstones).
    dedup: u64,
    prepared: Option<Prepared>,
}

/// What the consumer's callbacks share with the loop.
struct Inner {
    state: AppState,
    writer: Mutex<Writer>,
    topic: String,
    /// Bumped by every rebalance callback: a message read before the last one may be
    /// from a partition this member no longer holds (or holds from another start), so
    /// it is dropped unapplied, and offsets of a cut taken before it are not committed.
    generation: AtomicU64,
    /// Partitions placed at a position whose first record has not been seen yet (see
    /// [`Check`]).
    checks: Mutex<BTreeMap<i32, Check>>,
}

/// Whether a partition's reading really starts at the position it was placed at. A
/// broker may answer a fetch from an offset inside a record batch with the next batch
/// (tansu 0.6.0 does; Apache Kafka returns the batch holding it): the records between
/// would be skipped. So the first record of a placed partition must be at the position;
/// one past it is not applied, and the partition is read again from its beginning
/// (records below the position are skipped as usual). If even that starts past the
/// position (the records were deleted by retention), the gap is logged and accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Placed,
    Rewound,
}

pub struct KafkaContext {
    inner: Arc<Inner>,
}

impl ClientContext for KafkaContext {}

impl ConsumerContext for KafkaContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.inner.place(consumer, tpl);
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "kafka assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.inner.persist_and_commit(consumer);
                self.inner
                    .state
                    .inner
                    .status
                    .placed
                    .lock()
                    .expect("lock")
                    .clear();
                self.inner
                    .state
                    .inner
                    .status
                    .partitions
                    .store(0, Ordering::Relaxed);
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "kafka unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "kafka rebalance failed");
                let _ = consumer.unassign();
            }
        }
    }
}

impl Inner {
    fn key(&self, partition: i32) -> String {
        format!("{}:{partition}", self.topic)
    }

    /// Sets each newly assigned partition's start: the larger of ours and the group's.
    fn place(&self, consumer: &BaseConsumer<KafkaContext>, tpl: &mut TopicPartitionList) {
        let committed = consumer
            .committed_offsets(tpl.clone(), BROKER_TIMEOUT)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "group offsets unread: starting from our own");
                TopicPartitionList::new()
            });
        let group: BTreeMap<i32, i64> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        self.state
            .inner
            .status
            .partitions
            .store(partitions.len() as u64, Ordering::Relaxed);
        // Not under the model's lock: the stats handler takes that lock, then this one.
        let mut placed = BTreeMap::new();
        let mut checks = self.checks.lock().expect("checks");
        checks.clear();
        let mut model = self.state.model_mut_when_free();
        for p in partitions {
            let key = self.key(p);
            let start = model.offsets.get(&key).copied().max(group.get(&p).copied());
            let offset = match start {
                Some(o) => {
                    placed.insert(key.clone(), o);
                    checks.insert(p, Check::Placed);
                    model.offsets.insert(key, o);
                    Offset::Offset(o)
                }
                // Neither has one (or the group's could not be read): librdkafka's
                // own lookup of the committed offset, else `auto.offset.reset`.
                None => Offset::Stored,
            };
            tracing::info!(partition = p, ?offset, "kafka partition assigned");
            let _ = tpl.set_partition_offset(&self.topic, p, offset);
        }
        drop(model);
        *self.state.inner.status.placed.lock().expect("lock") = placed;
    }

    /// Writes a snapshot of everything applied so far and waits for it; its offsets.
    fn snapshot_now(&self) -> Option<BTreeMap<String, i64>> {
        let writer = self.writer.lock().expect("writer");
        writer.drain();
        let before = writer.status.written.load(Ordering::SeqCst);
        let cut = take_cut(&self.state, &writer);
        let offsets = cut.offsets().clone();
        writer.write(cut);
        writer.drain();
        (writer.status.written.load(Ordering::SeqCst) > before).then_some(offsets)
    }

    fn persist_and_commit(&self, consumer: &BaseConsumer<KafkaContext>) {
        match self.snapshot_now() {
            Some(offsets) => commit(consumer, &offsets, CommitMode::Sync),
            None => tracing::error!("snapshot before a rebalance failed: offsets not committed"),
        }
    }
}

/// Commits `offsets` (`topic:partition` -> next offset) to the group, for the
/// partitions this member holds now only: a partition another member took over has that
/// member's offsets, which ours must never overwrite (they would move it back).
fn commit(
    consumer: &BaseConsumer<KafkaContext>,
    offsets: &BTreeMap<String, i64>,
    mode: CommitMode,
) {
    let Ok(assigned) = consumer.assignment() else {
        return;
    };
    let mut tpl = TopicPartitionList::new();
    for e in assigned.elements() {
        let key = format!("{}:{}", e.topic(), e.partition());
        if let Some(offset) = offsets.get(&key) {
            let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(*offset));
        }
    }
    if tpl.count() == 0 {
        return;
    }
    tracing::debug!(?offsets, ?mode, "kafka offsets commit");
    if let Err(e) = consumer.commit(&tpl, mode) {
        tracing::warn!(error = %e, "kafka offset commit failed (the next one carries them)");
    }
}

/// The message copied and parsed (outside the model's lock).
fn read(
    m: &rdkafka::message::BorrowedMessage<'_>,
    generation: u64,
    state: &AppState,
    now_ms: i64,
) -> Msg {
    let s = &state.inner;
    let header = |name: &str| {
        m.headers().and_then(|h| {
            h.iter()
                .find(|x| x.key == name)
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    };
    let payload = m.payload().unwrap_or_default();
    let kind = match header(kafka_header::KIND) {
        Some(k) if k == RecordKind::Tombstone.as_str() => RecordKind::Tombstone,
        _ => RecordKind::Event,
    };
    let message_id = header(kafka_header::MESSAGE_ID);
    let dedup = match (&kind, &message_id) {
        (RecordKind::Event, Some(id)) => fnv1a(id.as_bytes()),
        _ => fnv1a(&[b"tombstone\n".as_slice(), payload].concat()),
    };
    let prepared = serde_json::from_slice::<Value>(payload).ok().map(|value| {
        let record = FeedRecord {
            cursor: 0,
            kind,
            key: m
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .or(message_id)
                .unwrap_or_default(),
            source: header(kafka_header::SOURCE),
            value,
        };
        prepare(&record, &s.ids, now_ms)
    });
    Msg {
        generation,
        partition: m.partition(),
        offset: m.offset(),
        dedup,
        prepared,
    }
}

/// Builds the consumer (no auto commit, no auto offset store).
fn consumer(state: &AppState, inner: Arc<Inner>) -> Result<BaseConsumer<KafkaContext>, RecoError> {
    let c = &state.inner.config;
    let mut config = ClientConfig::new();
    config
        .set(
            "bootstrap.servers",
            c.kafka_brokers.as_deref().unwrap_or_default(),
        )
        .set("group.id", &c.kafka_group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "10000")
        // A broker answers a fetch at once when records wait; this bounds the wait when
        // none do, and so how late a deletion that arrives then is read.
        .set("fetch.wait.max.ms", "100");
    for (k, v) in c.kafka_options()? {
        config.set(k, v);
    }
    // The guarantees rest on these (`--kafka-option` may not set them): the service
    // commits, and only what is durable; every partition is revoked before any moves.
    config
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("partition.assignment.strategy", "range");
    config
        .create_with_context(KafkaContext { inner })
        .map_err(|e| RecoError::Config(format!("kafka consumer: {e}")))
}

/// Creates the consumer and subscribes (a bad setting fails here, before any reading),
/// then runs the reader on a blocking thread until `stop`.
pub fn start(
    state: AppState,
    writer: Writer,
    stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, RecoError> {
    let topic = state.inner.config.kafka_topic.clone();
    let inner = Arc::new(Inner {
        state: state.clone(),
        writer: Mutex::new(writer),
        topic: topic.clone(),
        generation: AtomicU64::new(0),
        checks: Mutex::new(BTreeMap::new()),
    });
    let consumer = consumer(&state, inner.clone())?;
    consumer
        .subscribe(&[&topic])
        .map_err(|e| RecoError::Config(format!("kafka subscribe: {e}")))?;
    tracing::info!(%topic, group = %state.inner.config.kafka_group, "reading kafka");
    Ok(tokio::task::spawn_blocking(move || {
        run(state, inner, consumer, stop)
    }))
}

/// The reader's loop; blocking.
fn run(
    state: AppState,
    inner: Arc<Inner>,
    consumer: BaseConsumer<KafkaContext>,
    stop: watch::Receiver<bool>,
) {
    let s = state.inner.clone();
    let window = s.config.kafka_dedup_window;
    let mut dirty = false;
    let mut last_cut = Instant::now();
    // The offsets of the cut being written, committed once it landed.
    // (writer's `written` before it, rebalance generation, offsets).
    let mut pending: Option<(u64, u64, BTreeMap<String, i64>)> = None;
    while !*stop.borrow() {
        let now_ms = s.time.now_ms();
        let mut batch = Vec::new();
        let t = Instant::now();
        let mut wait = if pending.is_some() {
            POLL_PENDING
        } else {
            POLL
        };
        while batch.len() < BATCH {
            match consumer.poll(wait) {
                Some(Ok(m)) => {
                    let generation = inner.generation.load(Ordering::SeqCst);
                    batch.push(read(&m, generation, &state, now_ms));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka read failed");
                    *s.status.last_error.lock().expect("lock") = Some(e.to_string());
                    break;
                }
                None => {
                    if consumer.assignment().is_ok_and(|a| a.count() > 0) {
                        s.status.caught_up.store(true, Ordering::Relaxed);
                    }
                    break;
                }
            }
            wait = Duration::ZERO;
        }
        crate::follower::add_us(&s.status.time_fetch_us, t);
        s.status.collector_up.store(true, Ordering::Relaxed);
        let mut forgotten = Vec::new();
        let ctx = Ctx {
            ids: &s.ids,
            rules: &s.rules,
            now_ms,
        };
        // Partitions to read again from their beginning (see `Check`).
        let mut rewind: Vec<i32> = Vec::new();
        let mut msgs = batch.into_iter().peekable();
        while msgs.peek().is_some() {
            let t = Instant::now();
            let mut model = state.model_mut_when_free();
            crate::follower::add_us(&s.status.time_lock_us, t);
            let t = Instant::now();
            let generation = inner.generation.load(Ordering::SeqCst);
            for m in msgs.by_ref().take(CHUNK) {
                if m.generation != generation {
                    // Read before a rebalance: dropped; if the partition is ours again
                    // it was placed at our position, so it is read again from there.
                    continue;
                }
                let key = inner.key(m.partition);
                let next = model.offsets.get(&key).copied();
                if next.is_some_and(|next| m.offset < next) {
                    continue;
                }
                let mut checks = inner.checks.lock().expect("checks");
                if let (Some(check), Some(next)) = (checks.get(&m.partition).copied(), next) {
                    if m.offset > next && check == Check::Placed {
                        // Not applied: read the partition again from its beginning.
                        checks.insert(m.partition, Check::Rewound);
                        rewind.push(m.partition);
                        continue;
                    }
                    if m.offset > next && rewind.contains(&m.partition) {
                        continue;
                    }
                    if m.offset > next {
                        tracing::error!(
                            partition = m.partition,
                            from = next,
                            to = m.offset,
                            "kafka records missing from the partition (deleted?)"
                        );
                    }
                    checks.remove(&m.partition);
                }
                drop(checks);
                model.offsets.insert(key, m.offset + 1);
                dirty = true;
                s.status.applied.fetch_add(1, Ordering::Relaxed);
                let first = model.seen.first_time(m.dedup, window);
                let Some(p) = m.prepared else {
                    tracing::warn!(
                        partition = m.partition,
                        offset = m.offset,
                        "unreadable kafka message skipped"
                    );
                    continue;
                };
                match p {
                    Prepared::Tombstone(ids) => {
                        // Every copy is applied (forgetting is idempotent): the copy on
                        // a partition comes after that partition's events of the
                        // person, which another copy may have overtaken. Counted once.
                        if first {
                            model.agg.totals.tombstones += 1;
                        }
                        model.cursor += 1;
                        model.forget(&ids);
                        forgotten.append(&mut model.forgotten);
                    }
                    event => {
                        if !first {
                            s.status.duplicates.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        model.cursor += 1;
                        if let Effect::Forgot = model.apply_unordered(event, &ctx) {
                            forgotten.append(&mut model.forgotten);
                        }
                    }
                }
            }
            s.status.head.store(model.cursor, Ordering::Relaxed);
            drop(model);
            crate::follower::add_us(&s.status.time_apply_us, t);
            std::thread::yield_now();
        }
        for p in rewind {
            tracing::warn!(partition = p, "kafka fetch started past the position: reading the partition again from its beginning");
            if let Err(e) = consumer.seek(&inner.topic, p, Offset::Beginning, BROKER_TIMEOUT) {
                tracing::error!(partition = p, error = %e, "kafka seek failed");
            }
        }
        if dirty {
            state.model_mut_when_free().refresh();
        }
        let writer = inner.writer.lock().expect("writer");
        if !forgotten.is_empty() {
            writer.forget(forgotten);
        }
        if let Some((before, generation, offsets)) = &pending {
            if *generation != inner.generation.load(Ordering::SeqCst) {
                // A rebalance came in between: its callback committed newer offsets.
                pending = None;
            } else if writer.status.written.load(Ordering::SeqCst) > *before {
                commit(&consumer, offsets, CommitMode::Async);
                pending = None;
            } else if !writer.status.busy.load(Ordering::SeqCst) {
                // Abandoned (a forget came after it): the next cut carries them.
                pending = None;
            }
        }
        let every = s.config.snapshot_interval().max(Duration::from_micros(
            writer.status.last_cpu_us.load(Ordering::Relaxed) * 30,
        ));
        if dirty
            && pending.is_none()
            && last_cut.elapsed() >= every
            && !writer.status.busy.load(Ordering::SeqCst)
        {
            let before = writer.status.written.load(Ordering::SeqCst);
            let cut = take_cut(&state, &writer);
            let generation = inner.generation.load(Ordering::SeqCst);
            pending = Some((before, generation, cut.offsets().clone()));
            writer.write(cut);
            dirty = false;
            last_cut = Instant::now();
        }
    }
    // The last snapshot and its commit; closing the consumer leaves the group (its
    // revoke callback persists again, which costs a manifest).
    inner.persist_and_commit(&consumer);
    drop(consumer);
    inner.writer.lock().expect("writer").finish();
}
