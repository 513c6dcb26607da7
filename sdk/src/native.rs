//! The native driver (feature `native`): the engine behind a mutex, and one
//! tokio task that runs the `next_upload` / `upload_finished` loop with reqwest.
//! API calls only touch the engine and wake the task; all policy stays in the core.

use crate::backoff::parse_retry_after;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::consent::Consent;
use crate::engine::{Engine, Tracked};
use crate::error::Error;
use crate::events::Event;
use crate::store::Store;
use crate::upload::{Next, Outcome, Upload};
use serde_json::Value;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Driver settings (the product rules are in `Config`).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout for one upload (default 30 s); a timeout is a transport error.
    pub request_timeout: Duration,
    /// Connect timeout (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the loop publishes after each upload, for `flush().await`.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Upload attempts that ended in a retryable failure, ever.
    failures: u64,
    last_error: String,
}

struct Shared {
    engine: Mutex<Engine>,
    wake: Notify,
    stop: Notify,
    stopping: AtomicBool,
    progress: watch::Sender<Progress>,
}

/// A tracking client for native Rust apps. Create it inside a tokio runtime.
pub struct Client {
    shared: Arc<Shared>,
    request_timeout: Duration,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Client {
    /// Opens an engine over `store` with the system clock and starts the loop.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Client, Error> {
        let engine = Engine::new(config, store, Arc::new(SystemClock))?;
        Client::start(engine, ClientOptions::default())
    }

    /// Starts the upload loop for an engine built by the caller.
    pub fn start(engine: Engine, options: ClientOptions) -> Result<Client, Error> {
        #[cfg(feature = "rustls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| Error::Stopped(format!("http client: {e}")))?;
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            wake: Notify::new(),
            stop: Notify::new(),
            stopping: AtomicBool::new(false),
            progress: watch::Sender::new(Progress::default()),
        });
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Stopped(format!("no tokio runtime: {e}")))?;
        let task = runtime.spawn(run(shared.clone(), http));
        Ok(Client {
            shared,
            request_timeout: options.request_timeout,
            task: Mutex::new(Some(task)),
        })
    }

    // --- The API: same words as the engine --------------------------------------

    pub fn track(&self, event: &str, properties: Value) -> Result<Tracked, Error> {
        self.call(|e| e.track(event, properties))
    }
    pub fn track_event(&self, event: Event) -> Result<Tracked, Error> {
        self.call(|e| e.track_event(event))
    }
    pub fn page(&self, name: &str, properties: Value) -> Result<Tracked, Error> {
        self.call(|e| e.page(name, properties))
    }
    pub fn screen(&self, name: &str, properties: Value) -> Result<Tracked, Error> {
        self.call(|e| e.screen(name, properties))
    }
    pub fn identify(&self, user_id: &str, traits: Value) -> Result<Tracked, Error> {
        self.call(|e| e.identify(user_id, traits))
    }
    pub fn alias(&self, new_user_id: &str) -> Result<Tracked, Error> {
        self.call(|e| e.alias(new_user_id))
    }
    pub fn group(&self, group_id: &str, traits: Value) -> Result<Tracked, Error> {
        self.call(|e| e.group(group_id, traits))
    }
    pub fn reset(&self) -> Result<(), Error> {
        self.call(|e| e.reset())
    }
    /// Revoked purposes are purged from the disk before this returns.
    pub fn set_consent(&self, consent: Consent) -> Result<(), Error> {
        self.call(|e| e.set_consent(consent))
    }
    pub fn on_foreground(&self) {
        self.call(|e| e.on_foreground())
    }
    /// Makes everything durable now and starts uploading it.
    pub fn on_background(&self) -> Result<(), Error> {
        self.call(|e| e.on_background())
    }

    /// Runs `f` on the engine (for reads such as `anonymous_id()` or `queued()`).
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.lock())
    }

    /// Uploads everything tracked before this call. Ok once it is delivered (or
    /// dropped by the rules); Err on the first failed attempt, with the events
    /// still queued for retry. Err at once while the engine backs off for longer
    /// than one request may take (`request_timeout`): a flush never waits out a
    /// backoff of minutes (or a Retry-After of up to an hour).
    pub async fn flush(&self) -> Result<(), Error> {
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Err(Error::Stopped("client is shut down".into()));
        }
        let mut rx = self.shared.progress.subscribe();
        let start = rx.borrow_and_update().failures;
        let target = {
            let mut e = self.lock();
            e.flush()?;
            if e.oldest_pending_seq().is_some() {
                if let Some(code) = e.key_refused() {
                    return Err(Error::Upload(format!(
                        "the collector refused the write key ({code}); {} events kept, uploads paused",
                        e.queued()
                    )));
                }
                if let Some(d) = e.retry_in().filter(|d| *d > self.request_timeout) {
                    return Err(Error::Upload(format!(
                        "backing off after {} failed attempts; next attempt in {} s",
                        e.failures(),
                        d.as_secs()
                    )));
                }
            }
            e.last_seq()
        };
        self.shared.wake.notify_one();
        let Some(target) = target else {
            return Ok(());
        };
        loop {
            let p = rx.borrow_and_update().clone();
            if self
                .lock()
                .oldest_pending_seq()
                .map_or(true, |o| o > target)
            {
                return Ok(());
            }
            if p.failures > start {
                return Err(Error::Upload(p.last_error));
            }
            rx.changed()
                .await
                .map_err(|_| Error::Stopped("upload loop ended".into()))?;
        }
    }

    /// Uploads what it can within `timeout`, then stops the loop and makes the
    /// rest durable for the next run. Err(Timeout) or Err(Upload) if some events
    /// are left queued.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let flushed = match tokio::time::timeout(timeout, self.flush()).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout),
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.stop.notify_one();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            // The loop ends at its next await; an upload still in flight is cancelled
            // (its events stay in the store and go out on the next run).
            task.abort();
            let _ = task.await;
        }
        self.lock().sync()?;
        flushed
    }

    fn call<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        let out = f(&mut self.lock());
        self.shared.wake.notify_one();
        out
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        self.shared.engine.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.stop.notify_one();
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        let _ = self.lock().sync();
    }
}

/// The upload loop: ask the engine, do what it says, report back.
async fn run(shared: Arc<Shared>, http: reqwest::Client) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let next = shared
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_upload();
        let pause = match next {
            Ok(Next::Upload(u)) => {
                let id = u.id;
                let outcome = send_keeping_durable(&shared, &http, u).await;
                let mut e = shared.engine.lock().unwrap_or_else(|e| e.into_inner());
                let before = e.failures();
                let res = e.upload_finished(id, outcome.clone());
                let failed = e.failures() > before;
                drop(e);
                shared.progress.send_modify(|p| {
                    if failed || res.is_err() {
                        p.failures += 1;
                        p.last_error = match (&res, &outcome) {
                            (Err(err), _) => err.to_string(),
                            (_, Outcome::Status { code, .. }) => format!("HTTP {code}"),
                            (_, Outcome::Transport(t)) => t.clone(),
                        };
                    }
                });
                continue;
            }
            Ok(Next::Wait(d)) => Some(d),
            Ok(Next::Idle) => None,
            Err(err) => {
                // A store error: report it and try again shortly.
                shared.progress.send_modify(|p| {
                    p.failures += 1;
                    p.last_error = err.to_string();
                });
                Some(Duration::from_secs(1))
            }
        };
        match pause {
            Some(d) => tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = shared.wake.notified() => {}
                _ = shared.stop.notified() => break,
            },
            None => tokio::select! {
                _ = shared.wake.notified() => {}
                _ = shared.stop.notified() => break,
            },
        }
    }
}

/// Performs one upload while still syncing the store every `sync_interval`, so
/// events tracked during a slow request are durable in time too.
async fn send_keeping_durable(shared: &Shared, http: &reqwest::Client, u: Upload) -> Outcome {
    let request = panic_as_transport_error(send(http, u));
    tokio::pin!(request);
    loop {
        let due = shared
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sync_if_due()
            .ok()
            .flatten();
        tokio::select! {
            outcome = &mut request => return outcome,
            _ = tokio::time::sleep(due.unwrap_or(Duration::from_millis(200))) => {}
        }
    }
}

/// Polls one send, turning a panic inside it into `Outcome::Transport`, so the
/// loop survives it and the engine's retry and backoff apply (the events stay
/// queued). Example: on Android, reqwest's rustls-platform-verifier panics on the
/// first certificate check when the app has not initialised it; without this the
/// upload task would die silently while `track` kept queueing.
async fn panic_as_transport_error<F: Future<Output = Outcome>>(request: F) -> Outcome {
    let mut request = std::pin::pin!(request);
    // Once it has panicked the future is never polled again: poll_fn is done.
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| request.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => Poll::Ready(Outcome::Transport(format!(
                "upload panicked: {}",
                panic_text(panic.as_ref())
            ))),
        },
    )
    .await
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Performs one upload and turns the answer into an `Outcome`.
async fn send(http: &reqwest::Client, u: Upload) -> Outcome {
    let mut req = http.post(&u.url);
    for (k, v) in &u.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.body(u.body).send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemClock.now_millis()));
            // Read the body so the connection can be reused.
            let _ = resp.bytes().await;
            Outcome::Status { code, retry_after }
        }
        Err(e) => Outcome::Transport(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_send_is_a_transport_failure() {
        // Panics on its second poll, as a TLS verifier would after the connect.
        let mut polled = false;
        let send = std::future::poll_fn(move |cx| {
            if polled {
                panic!("Expect rustls-platform-verifier to be initialized");
            }
            polled = true;
            cx.waker().wake_by_ref();
            Poll::Pending::<Outcome>
        });
        assert_eq!(
            panic_as_transport_error(send).await,
            Outcome::Transport(
                "upload panicked: Expect rustls-platform-verifier to be initialized".into()
            )
        );
        let formatted = async { panic!("status {}", 500) };
        assert_eq!(
            panic_as_transport_error(async {
                formatted.await;
                Outcome::status(200)
            })
            .await,
            Outcome::Transport("upload panicked: status 500".into())
        );
        assert_eq!(
            panic_as_transport_error(async { Outcome::status(200) }).await,
            Outcome::status(200)
        );
    }
}
