//! How much the spool holds, and the lag gauges. A task of its own, since the
//! forwarder may be waiting on a broker that is away while ingest goes on.
//!
//! Rules:
//! - the spool is measured in feed-line bytes of the records after the forwarded
//!   position, read in chunks of up to `CHUNK_RECORDS` records; a chunk leaves the
//!   count once the forwarded position passes its last record, so the count errs high,
//!   never low;
//! - records deleted before they were forwarded are not read (the store no longer
//!   shows them) and never counted.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::sync::watch;

use super::{message::line_cursor, Spool};
use crate::{kafka::KafkaMetrics, store::EventStore, CollectorError};

const CHUNK_RECORDS: usize = 10_000;
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// How often the lag gauges are refreshed when nothing else happens.
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// Records read after a cursor, and the cursor the read reached: past the last line
/// when the read hit the end of the log (deleted records leave no line).
pub struct Read {
    pub lines: Vec<Vec<u8>>,
    pub reached: u64,
}

/// Reads up to `limit` records or `max_bytes` after `after`, off the runtime.
pub async fn read_after(
    store: &Arc<dyn EventStore>,
    after: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Read, CollectorError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let end = store.last_cursor();
        let lines = store.read(after, limit, max_bytes)?;
        let bytes: usize = lines.iter().map(Vec::len).sum();
        let last = lines.last().and_then(|l| line_cursor(l)).unwrap_or(after);
        let reached = if lines.len() < limit && bytes < max_bytes {
            last.max(end)
        } else {
            last
        };
        Ok(Read { lines, reached })
    })
    .await
    .map_err(|e| CollectorError::Store(format!("kafka spool read task: {e}")))?
}

pub struct Measure {
    pub store: Arc<dyn EventStore>,
    pub spool: Arc<Spool>,
    pub metrics: KafkaMetrics,
    pub committed: watch::Receiver<u64>,
    pub forwarded: watch::Receiver<u64>,
    /// receivedAt (ms) of the oldest record the forwarder is sending; 0 when none.
    pub oldest_ms: watch::Receiver<i64>,
    pub stop: watch::Receiver<bool>,
}

impl Measure {
    pub async fn run(mut self) {
        let mut scanned = *self.forwarded.borrow();
        let mut chunks: VecDeque<(u64, u64)> = VecDeque::new();
        let mut total = 0u64;
        let mut ticker = tokio::time::interval(GAUGE_INTERVAL);
        loop {
            let forwarded = *self.forwarded.borrow_and_update();
            while let Some(&(last, bytes)) = chunks.front() {
                if last > forwarded {
                    break;
                }
                total -= bytes;
                chunks.pop_front();
            }
            scanned = scanned.max(forwarded);
            let end = self.store.last_cursor();
            if scanned < end {
                match read_after(&self.store, scanned, CHUNK_RECORDS, CHUNK_BYTES).await {
                    Ok(read) => {
                        let bytes: u64 = read.lines.iter().map(|l| l.len() as u64).sum();
                        if read.reached > forwarded {
                            chunks.push_back((read.reached, bytes));
                            total += bytes;
                        }
                        scanned = read.reached;
                    }
                    Err(e) => tracing::error!(error = %e, "kafka spool measure failed"),
                }
            }
            self.spool.set_bytes(total);
            self.metrics.spool_bytes.set(total as i64);
            self.update_lag(end, forwarded);
            if scanned < self.store.last_cursor() {
                continue;
            }
            tokio::select! {
                r = self.committed.changed() => if r.is_err() { return },
                r = self.forwarded.changed() => if r.is_err() { return },
                _ = ticker.tick() => {}
                _ = self.stop.wait_for(|s| *s) => return,
            }
        }
    }

    fn update_lag(&self, end: u64, forwarded: u64) {
        self.metrics
            .lag_records
            .set(end.saturating_sub(forwarded) as i64);
        let oldest = *self.oldest_ms.borrow();
        let seconds = if forwarded < end && oldest > 0 {
            let now = chrono::Utc::now().timestamp_millis();
            (now - oldest).max(0) as f64 / 1000.0
        } else {
            0.0
        };
        self.metrics.lag_seconds.set(seconds);
    }
}
