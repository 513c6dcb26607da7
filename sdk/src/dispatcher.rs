//! The dispatcher driver (feature `dispatcher`), for platforms that bring their own
//! HTTP stack (Mozilla Glean's model). One worker thread owns the engine and runs every
//! API call in the order it was made, so the caller only hands work over: no disk
//! sync and no network on the app's thread. Uploads go to the platform's [`Uploader`]
//! on a second thread and are reported back to the worker, so calls keep flowing while
//! a request is in flight. Retry, backoff, splitting and limits stay in the core.
//!
//! Rules:
//! - calls run in order; a consent revocation purges before any later upload starts;
//! - the engine is opened on the worker (`Dispatcher::start` takes an opener), and
//!   calls made before it is open wait in the dispatcher's queue, in order;
//! - the queue holds at most `DispatcherOptions::max_pending` calls; a call past it is
//!   refused at once with `Error::Busy` (the caller is never blocked);
//! - an error in a call that returned early is kept (`last_error`) and given to the
//!   error listener, if any;
//! - a panic in the uploader is a transport error (the batch stays queued);
//! - `stop` runs the calls already handed over, syncs, and joins both threads unless
//!   a request is in flight (then the upload thread is left to finish it; its result
//!   is ignored and its events stay queued); no request starts after `stop`. Joining
//!   matters to foreign uploaders: the last reference to one is dropped on the
//!   thread that called `stop`, not later on a thread racing the runtime's exit.

use crate::engine::Engine;
use crate::error::Error;
use crate::upload::{Next, Outcome, Upload};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Performs one upload with the platform's HTTP stack: POST `request.body` to
/// `request.url` with `request.headers`, and say how it ended. Called on the
/// dispatcher's upload thread; it may block for as long as the request takes.
pub trait Uploader: Send + Sync {
    fn upload(&self, request: Upload) -> Outcome;
}

/// Called with every error of a call that had already returned to the app.
pub type ErrorListener = Box<dyn Fn(&Error) + Send + Sync>;

/// Dispatcher settings.
pub struct DispatcherOptions {
    /// Calls waiting for the worker at most (default 10,000, the queue's own bound).
    pub max_pending: usize,
    /// Told about errors of calls that had already returned (default none).
    pub on_error: Option<ErrorListener>,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            max_pending: 10_000,
            on_error: None,
        }
    }
}

type Call = Box<dyn FnOnce(&mut Engine) -> Result<(), Error> + Send>;

enum Job {
    Call(Call),
    Finished(u64, Outcome),
    Stop,
}

/// What the worker publishes after every job, for `flush_and_wait` and reads.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Failed upload attempts (and store errors that stopped one), ever.
    upload_failures: u64,
    last_error: Option<String>,
    /// The oldest sequence number still queued or in flight.
    oldest_pending: Option<u64>,
    /// The engine could not be opened (everything is refused).
    dead: Option<String>,
    stopped: bool,
}

struct Shared {
    progress: Mutex<Progress>,
    /// The upload thread is inside `Uploader::upload`.
    uploading: AtomicBool,
    changed: Condvar,
    on_error: Option<ErrorListener>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call or an upload failed: kept as the last error, told to the listener.
    fn fail(&self, error: &Error, upload: bool) {
        {
            let mut p = self.lock();
            p.upload_failures += u64::from(upload);
            p.last_error = Some(error.to_string());
        }
        if let Some(listener) = &self.on_error {
            listener(error);
        }
        self.changed.notify_all();
    }
}

/// The engine on its own thread, with uploads performed by an [`Uploader`].
pub struct Dispatcher {
    jobs: SyncSender<Job>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Dispatcher {
    /// Starts the worker, which opens the engine with `open` (so the store's disk
    /// work happens there too), and the upload thread.
    pub fn start(
        open: impl FnOnce() -> Result<Engine, Error> + Send + 'static,
        uploader: Arc<dyn Uploader>,
        options: DispatcherOptions,
    ) -> Result<Dispatcher, Error> {
        let (jobs, job_rx) = mpsc::sync_channel(options.max_pending.max(1));
        let (uploads, upload_rx) = mpsc::sync_channel::<Upload>(1);
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            uploading: AtomicBool::new(false),
            changed: Condvar::new(),
            on_error: options.on_error,
        });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| Error::Stopped(format!("cannot start {name}: {e}")))
        };
        let worker = {
            let shared = shared.clone();
            spawn(
                "cairn-dispatcher",
                Box::new(move || work(open, job_rx, uploads, &shared)),
            )?
        };
        let uploader_thread = {
            let (jobs, shared) = (jobs.clone(), shared.clone());
            spawn(
                "cairn-uploader",
                Box::new(move || upload(uploader, upload_rx, jobs, &shared)),
            )?
        };
        Ok(Dispatcher {
            jobs,
            shared,
            threads: Mutex::new(vec![worker, uploader_thread]),
        })
    }

    /// Hands `f` to the worker and returns at once. Its error, if any, is kept
    /// (`last_error`) and given to the error listener.
    pub fn dispatch(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<(), Error> + Send + 'static,
    ) -> Result<(), Error> {
        if let Some(dead) = self.shared.lock().dead.clone() {
            return Err(Error::Stopped(dead));
        }
        match self.jobs.try_send(Job::Call(Box::new(f))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::Busy),
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::Stopped("the dispatcher has stopped".into()))
            }
        }
    }

    /// Runs `f` on the worker and waits for its result (reads, tests; not for an
    /// app's UI thread, which should `dispatch`).
    pub fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> Result<T, Error> {
        if let Some(dead) = self.shared.lock().dead.clone() {
            return Err(Error::Stopped(dead));
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let job = Job::Call(Box::new(move |e| {
            let _ = tx.send(f(e));
            Ok(())
        }));
        // This caller waits for the answer anyway: it may wait for room too.
        self.jobs
            .send(job)
            .map_err(|_| Error::Stopped("the dispatcher has stopped".into()))?;
        rx.recv()
            .map_err(|_| Error::Stopped("the dispatcher has stopped".into()))
    }

    /// The last error of a dispatched call or an upload attempt, if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// Asks for everything tracked so far to be uploaded, and waits until it is
    /// delivered (Ok), an attempt fails (Err, events kept for retry), or `timeout`.
    pub fn flush_and_wait(&self, timeout: Duration) -> Result<(), Error> {
        let start_failures = self.shared.lock().upload_failures;
        let target = self.call(|e| e.flush().map(|()| e.last_seq()))??;
        let Some(target) = target else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let mut p = self.shared.lock();
        loop {
            if p.oldest_pending.map_or(true, |o| o > target) {
                return Ok(());
            }
            if p.upload_failures > start_failures {
                return Err(Error::Upload(p.last_error.clone().unwrap_or_default()));
            }
            if p.stopped {
                return Err(Error::Stopped("the dispatcher has stopped".into()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            p = self
                .shared
                .changed
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Stops both threads after the calls already handed over have run, and makes
    /// the queue durable; an upload in flight is abandoned (its events stay queued).
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let mut threads = threads.into_iter();
        if let Some(worker) = threads.next() {
            let _ = worker.join();
        }
        // The worker has ended (stopped is set, the request channel closed): an idle
        // upload thread ends at once; one in flight is left to finish its request.
        if let Some(uploader) = threads.next() {
            if !self.shared.uploading.load(Ordering::SeqCst) {
                let _ = uploader.join();
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The worker: open the engine, then run calls and the upload loop, in order.
fn work(
    open: impl FnOnce() -> Result<Engine, Error>,
    jobs: Receiver<Job>,
    uploads: SyncSender<Upload>,
    shared: &Shared,
) {
    let mut engine = match open() {
        Ok(e) => e,
        Err(err) => {
            shared.lock().dead = Some(format!("the engine could not be opened: {err}"));
            shared.fail(&err, false);
            return;
        }
    };
    loop {
        let wait = match engine.next_upload() {
            Ok(Next::Upload(u)) => {
                if uploads.send(u).is_err() {
                    break;
                }
                Some(Duration::ZERO)
            }
            Ok(Next::Wait(d)) => Some(d),
            Ok(Next::Idle) => None,
            Err(err) => {
                shared.fail(&err, true);
                Some(Duration::from_secs(1))
            }
        };
        publish(&engine, shared);
        let job = match wait {
            Some(d) if d.is_zero() => jobs.try_recv().map_err(|_| RecvTimeoutError::Timeout),
            Some(d) => jobs.recv_timeout(d),
            None => jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match job {
            Ok(Job::Call(f)) => {
                if let Err(err) = f(&mut engine) {
                    shared.fail(&err, false);
                }
            }
            Ok(Job::Finished(id, outcome)) => {
                let before = engine.failures();
                match engine.upload_finished(id, outcome.clone()) {
                    Err(err) => shared.fail(&err, true),
                    Ok(()) if engine.failures() > before || engine.key_refused().is_some() => {
                        shared.fail(&Error::Upload(describe(&outcome)), true);
                    }
                    Ok(()) => {}
                }
            }
            Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    let _ = engine.sync();
    shared.lock().stopped = true;
    shared.changed.notify_all();
}

fn publish(engine: &Engine, shared: &Shared) {
    shared.lock().oldest_pending = engine.oldest_pending_seq();
    shared.changed.notify_all();
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Status {
            code: c @ (401 | 403),
            ..
        } => {
            format!("the collector refused the write key (HTTP {c}); events kept, uploads paused")
        }
        Outcome::Status { code, .. } => format!("HTTP {code}"),
        Outcome::Transport(t) => t.clone(),
    }
}

/// The upload thread: perform each request the worker hands over and report back.
fn upload(
    uploader: Arc<dyn Uploader>,
    requests: Receiver<Upload>,
    jobs: SyncSender<Job>,
    shared: &Shared,
) {
    while let Ok(request) = requests.recv() {
        // Flag first, then look at `stopped`: `stop` either sees the flag (and does
        // not wait) or this thread sees `stopped` (and starts nothing).
        shared.uploading.store(true, Ordering::SeqCst);
        if shared.lock().stopped {
            shared.uploading.store(false, Ordering::SeqCst);
            continue;
        }
        let id = request.id;
        let outcome = catch_unwind(AssertUnwindSafe(|| uploader.upload(request)))
            .unwrap_or_else(|_| Outcome::Transport("the uploader panicked".into()));
        shared.uploading.store(false, Ordering::SeqCst);
        // Blocking send: the report must not be lost to a full queue.
        if jobs.send(Job::Finished(id, outcome)).is_err() {
            break;
        }
    }
}
