//! Group commit. One thread owns all writes: it takes every request waiting in its queue,
//! appends them together and fsyncs once, then answers each request. Concurrent requests
//! therefore share one flush, and a single writer keeps dedup and cursors race-free.

use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    metrics::Metrics,
    store::{DeleteUser, EventStore, FoundEvents, NewEvent, Outcome, PendingDeletion},
    CollectorError,
};

type Reply<T> = oneshot::Sender<Result<T, Arc<CollectorError>>>;

/// Whatever a request holds that must outlive it until its events are committed.
pub type Reservation = Box<dyn Send>;

/// A request waiting for its events' commit: where to answer, and what it holds.
type Waiting = (Reply<Vec<Outcome>>, Reservation);

enum Job {
    Append {
        events: Vec<NewEvent>,
        reply: Reply<Vec<Outcome>>,
        /// The request's share of in-flight memory, held until the writer is done with
        /// its events, even if the client has gone.
        _reservation: Reservation,
    },
    Delete {
        request: DeleteUser,
        /// The user's events found before the job was sent (`EventStore::find_user_events`).
        found: FoundEvents,
        reply: Reply<PendingDeletion>,
    },
}

/// The handle requests use to reach the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

/// Joins the writer thread once every `Writer` handle is gone and the queue is drained.
pub struct WriterThread(thread::JoinHandle<()>);

impl WriterThread {
    pub fn join(self) {
        let _ = self.0.join();
    }
}

/// How often the writer forgets dedup keys past the window.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(3600);

pub struct WriterSettings {
    pub max_group_events: usize,
    pub dedup_window: Duration,
    pub queue_depth: usize,
}

impl Writer {
    /// Starts the writer thread. `committed` is advanced to the newest durable cursor
    /// after every group, which is what feed long-polls wait on.
    pub fn start(
        store: Arc<dyn EventStore>,
        committed: watch::Sender<u64>,
        metrics: Arc<Metrics>,
        settings: WriterSettings,
    ) -> (Self, WriterThread) {
        let (tx, rx) = mpsc::channel(settings.queue_depth);
        let handle = thread::Builder::new()
            .name("cairn-writer".into())
            .spawn(move || run(store, rx, committed, metrics, settings))
            .expect("spawn writer thread");
        (Self { jobs: tx }, WriterThread(handle))
    }

    /// Jobs waiting in the writer's queue.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// False once the writer thread has ended (it never does before shutdown unless it
    /// panicked).
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }

    /// Appends events durably; resolves once they are on disk. `reservation` is
    /// released when the writer has committed them.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        reservation: Reservation,
    ) -> Result<Vec<Outcome>, CollectorError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Append {
            events,
            reply,
            _reservation: reservation,
        };
        self.submit(job, answer).await
    }

    /// The second phase of a deletion whose events were found with
    /// `EventStore::find_user_events`: its tombstones are durable once this resolves;
    /// `EventStore::finish_deletion` then zeroes the events, off the writer.
    pub async fn delete_user(
        &self,
        request: DeleteUser,
        found: FoundEvents,
    ) -> Result<PendingDeletion, CollectorError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Delete {
            request,
            found,
            reply,
        };
        self.submit(job, answer).await
    }

    async fn submit<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, Arc<CollectorError>>>,
    ) -> Result<T, CollectorError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| CollectorError::ShuttingDown)?;
        match answer.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(match &*e {
                CollectorError::StoreUnavailable(message, secs) => {
                    CollectorError::StoreUnavailable(message.clone(), *secs)
                }
                other => CollectorError::Store(other.to_string()),
            }),
            Err(_) => Err(CollectorError::ShuttingDown),
        }
    }
}

fn run(
    store: Arc<dyn EventStore>,
    mut jobs: mpsc::Receiver<Job>,
    committed: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    settings: WriterSettings,
) {
    let mut last_expiry = Instant::now() - EXPIRY_INTERVAL;
    while let Some(first) = jobs.blocking_recv() {
        let mut appends = Vec::new();
        let mut deletes = Vec::new();
        let mut group_events = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append {
                    events,
                    reply,
                    _reservation,
                } => {
                    group_events += events.len();
                    appends.push((events, (reply, _reservation)));
                }
                Job::Delete {
                    request,
                    found,
                    reply,
                } => deletes.push((request, found, reply)),
            }
            if group_events < settings.max_group_events {
                next = jobs.try_recv().ok();
            }
        }
        commit_group(store.as_ref(), appends, &metrics);
        for (request, found, reply) in deletes {
            let _ = reply.send(store.delete_found(&request, found).map_err(Arc::new));
        }
        committed.send_replace(store.last_cursor());
        if last_expiry.elapsed() >= EXPIRY_INTERVAL {
            last_expiry = Instant::now();
            expire(store.as_ref(), settings.dedup_window);
        }
    }
    tracing::info!("writer drained and stopped");
}

fn commit_group(store: &dyn EventStore, appends: Vec<(Vec<NewEvent>, Waiting)>, metrics: &Metrics) {
    if appends.is_empty() {
        return;
    }
    let mut all = Vec::with_capacity(appends.iter().map(|(e, _)| e.len()).sum());
    let mut replies = Vec::with_capacity(appends.len());
    for (events, reply) in appends {
        replies.push((events.len(), reply));
        all.extend(events);
    }
    let started = Instant::now();
    let result = store.append(&all).map_err(Arc::new);
    metrics
        .flush_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.group_events.observe(all.len() as f64);
    match result {
        Ok(outcomes) => {
            let mut rest = outcomes.as_slice();
            for (count, (reply, _reservation)) in replies {
                let (mine, tail) = rest.split_at(count);
                rest = tail;
                let _ = reply.send(Ok(mine.to_vec()));
            }
        }
        Err(e) => {
            for (_, (reply, _reservation)) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

fn expire(store: &dyn EventStore, window: Duration) {
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let before = now_ms.saturating_sub(window.as_millis() as u64);
    match store.expire_dedup(before) {
        Ok(n) => tracing::info!(expired = n, "dedup window swept"),
        Err(e) => tracing::warn!(error = %e, "dedup sweep failed"),
    }
}
