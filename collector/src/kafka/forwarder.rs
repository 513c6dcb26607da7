//! The forwarder: reads the log after the forwarded position in batches, sends each
//! record's messages, waits for every acknowledgement of the batch, then stores the
//! new position durably.
//!
//! Rules:
//! - the position only passes records whose messages (and all earlier ones) the broker
//!   acknowledged; after a failed delivery the batch is sent again from the first record
//!   not acknowledged, so a record may be in the topic twice, never missing;
//! - a fatal producer error (the idempotent producer's state lost) replaces the producer;
//! - failures back off from `MIN_BACKOFF` to `MAX_BACKOFF`; a stop ends every wait.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{DeliveryFuture, FutureRecord, Producer},
};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    measure::{read_after, Measure},
    message::{from_feed_line, line_cursor, Forwarded, Target},
    metrics::{ERROR_CLIENT, ERROR_DELIVERY, ERROR_METADATA},
    position::Position,
    producer, ForwarderInputs, KafkaConfig, KafkaMetrics,
};
use crate::{store::EventStore, CollectorError};

const BATCH_RECORDS: usize = 5_000;
const BATCH_BYTES: usize = 4 * 1024 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// The running sink: the forwarder and the spool measure.
pub struct Forwarder {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Forwarder {
    /// Starts forwarding when the config names brokers; `None` when the sink is off.
    pub fn start(inputs: ForwarderInputs) -> Result<Option<Self>, CollectorError> {
        let config = inputs.config.kafka.clone();
        let Some(brokers) = config.brokers.clone() else {
            return Ok(None);
        };
        let spool = inputs
            .spool
            .ok_or_else(|| CollectorError::Config("kafka sink without a spool".into()))?;
        let position = Position::new(&inputs.config.data_dir, &config.topic);
        let start = position.load()?;
        let metrics = inputs.metrics.kafka.clone();
        let producer = producer::create(&config, &brokers, &metrics)?;
        let (stop, stopping) = watch::channel(false);
        let (forwarded_tx, forwarded) = watch::channel(start);
        let (oldest_tx, oldest_ms) = watch::channel(0);
        tracing::info!(brokers = %brokers, topic = %config.topic, from = start, "kafka sink on");
        let measure = Measure {
            store: inputs.store.clone(),
            spool,
            metrics: metrics.clone(),
            committed: inputs.committed.clone(),
            forwarded,
            oldest_ms,
            stop: stopping.clone(),
        };
        let run = Run {
            config,
            brokers,
            store: inputs.store,
            committed: inputs.committed,
            producer,
            position,
            at: start,
            forwarded: forwarded_tx,
            oldest: oldest_tx,
            metrics,
            stop: stopping,
        };
        Ok(Some(Self {
            stop,
            tasks: vec![tokio::spawn(measure.run()), tokio::spawn(run.run())],
        }))
    }

    /// Stops both tasks; the position stays where the last acknowledged batch left it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Run {
    config: KafkaConfig,
    brokers: String,
    store: Arc<dyn EventStore>,
    committed: watch::Receiver<u64>,
    producer: producer::SinkProducer,
    position: Position,
    /// The forwarded position.
    at: u64,
    forwarded: watch::Sender<u64>,
    oldest: watch::Sender<i64>,
    metrics: KafkaMetrics,
    stop: watch::Receiver<bool>,
}

/// How far a batch got.
struct Sent {
    /// Every record through this cursor is acknowledged.
    through: u64,
    failure: Option<(&'static str, String)>,
    stopped: bool,
}

impl Run {
    async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        while !*self.stop.borrow() {
            match self.step().await {
                Ok(()) => backoff = MIN_BACKOFF,
                Err((kind, error)) => {
                    self.metrics.broker_errors.with_label_values(&[kind]).inc();
                    tracing::warn!(kind, %error, retry_in = ?backoff, "kafka forwarding failed");
                    self.replace_producer_if_fatal();
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Forwards one batch, or waits for the log to grow.
    async fn step(&mut self) -> Result<(), (&'static str, String)> {
        if self.store.last_cursor() <= self.at {
            let mut stop = self.stop.clone();
            let at = self.at;
            tokio::select! {
                _ = self.committed.wait_for(|c| *c > at) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            return Ok(());
        }
        let read = read_after(&self.store, self.at, BATCH_RECORDS, BATCH_BYTES)
            .await
            .map_err(|e| (ERROR_CLIENT, e.to_string()))?;
        let records: Vec<Forwarded> = read
            .lines
            .iter()
            .filter_map(|line| {
                let record = from_feed_line(line);
                if record.is_none() {
                    tracing::error!(cursor = ?line_cursor(line), "unreadable feed record not forwarded");
                }
                record
            })
            .collect();
        let oldest = records.iter().find_map(|r| r.received_ms);
        self.oldest
            .send_replace(oldest.unwrap_or_else(|| chrono::Utc::now().timestamp_millis()));
        let sent = self.send(&records).await;
        let through = if sent.failure.is_none() && !sent.stopped {
            read.reached
        } else {
            sent.through
        };
        self.advance(through)?;
        self.oldest.send_replace(0);
        match sent.failure {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    fn advance(&mut self, through: u64) -> Result<(), (&'static str, String)> {
        if through > self.at {
            self.position
                .store(through)
                .map_err(|e| (ERROR_CLIENT, format!("storing the forwarded position: {e}")))?;
            self.at = through;
            self.forwarded.send_replace(through);
        }
        Ok(())
    }

    /// Sends every message of `records` and waits for their acknowledgements in order.
    async fn send(&self, records: &[Forwarded]) -> Sent {
        let mut sent = Sent {
            through: self.at,
            failure: None,
            stopped: false,
        };
        let partitions = if records
            .iter()
            .any(|r| r.messages.iter().any(|m| m.target == Target::AllPartitions))
        {
            match self.partitions().await {
                Ok(n) => n,
                Err(e) => {
                    sent.failure = Some((ERROR_METADATA, e));
                    return sent;
                }
            }
        } else {
            0
        };
        let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::new();
        let mut done = 0;
        for (i, record) in records.iter().enumerate() {
            for m in &record.messages {
                let targets: Vec<Option<i32>> = match m.target {
                    Target::ByKey => vec![None],
                    Target::AllPartitions => (0..partitions).map(Some).collect(),
                };
                for partition in targets {
                    let headers = m.headers.iter().fold(
                        OwnedHeaders::new_with_capacity(m.headers.len()),
                        |h, (key, value)| {
                            h.insert(Header {
                                key,
                                value: Some(value.as_bytes()),
                            })
                        },
                    );
                    let mut out = FutureRecord::to(&self.config.topic)
                        .key(m.key.as_bytes())
                        .payload(&m.value)
                        .headers(headers);
                    out.partition = partition;
                    loop {
                        match self.producer.send_result(out) {
                            Ok(delivery) => {
                                pending.push_back((i, delivery));
                                break;
                            }
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                r,
                            )) => {
                                out = r;
                                // The local queue is full: the oldest send must finish first.
                                if !self
                                    .settle_one(records, &mut pending, &mut done, &mut sent)
                                    .await
                                {
                                    return sent;
                                }
                            }
                            Err((e, _)) => {
                                sent.failure = Some((ERROR_CLIENT, e.to_string()));
                                return sent;
                            }
                        }
                    }
                }
            }
        }
        while !pending.is_empty() {
            if !self
                .settle_one(records, &mut pending, &mut done, &mut sent)
                .await
            {
                return sent;
            }
        }
        sent
    }

    /// Waits for the oldest pending delivery; false when it failed or a stop came (and
    /// `sent` says so). `done` counts the records whose messages were all acknowledged.
    async fn settle_one(
        &self,
        records: &[Forwarded],
        pending: &mut VecDeque<(usize, DeliveryFuture)>,
        done: &mut usize,
        sent: &mut Sent,
    ) -> bool {
        let Some((i, delivery)) = pending.pop_front() else {
            tokio::task::yield_now().await;
            return true;
        };
        let mut stop = self.stop.clone();
        let result = tokio::select! {
            r = delivery => r,
            _ = stop.wait_for(|s| *s) => {
                sent.stopped = true;
                return false;
            }
        };
        match result {
            Ok(Ok(_)) => {
                // Records before `i` are complete once a message of `i` is acknowledged,
                // and `i` itself once its last message is.
                let complete = if pending.front().is_some_and(|(j, _)| *j == i) {
                    i
                } else {
                    i + 1
                };
                for record in &records[*done..complete] {
                    self.metrics.forwarded.inc();
                    if let Some(received) = record.received_ms {
                        let now = chrono::Utc::now().timestamp_millis();
                        self.metrics
                            .delay_seconds
                            .observe((now - received).max(0) as f64 / 1000.0);
                    }
                    sent.through = record.cursor;
                }
                *done = (*done).max(complete);
                true
            }
            Ok(Err((e, _))) => {
                sent.failure = Some((ERROR_DELIVERY, e.to_string()));
                false
            }
            Err(_) => {
                sent.failure = Some((ERROR_CLIENT, "delivery canceled".into()));
                false
            }
        }
    }

    /// The topic's partition count, from the broker's metadata.
    async fn partitions(&self) -> Result<i32, String> {
        let producer = self.producer.clone();
        let topic = self.config.topic.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .map_err(|e| e.to_string())?;
            let t = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .ok_or_else(|| format!("no metadata for topic {topic}"))?;
            match (t.error(), t.partitions().len()) {
                (None, n) if n > 0 => Ok(n as i32),
                (error, _) => Err(format!("topic {topic} has no partitions ({error:?})")),
            }
        })
        .await
        .map_err(|e| e.to_string())?
    }

    fn replace_producer_if_fatal(&mut self) {
        let Some((code, reason)) = self.producer.client().fatal_error() else {
            return;
        };
        tracing::error!(?code, %reason, "kafka producer failed fatally: starting a new one");
        match producer::create(&self.config, &self.brokers, &self.metrics) {
            Ok(p) => self.producer = p,
            Err(e) => tracing::error!(error = %e, "kafka producer could not be replaced"),
        }
    }
}
