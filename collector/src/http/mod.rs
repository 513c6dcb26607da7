//! The HTTP surface: `app(state)` builds the router, `serve` runs it with graceful
//! shutdown. Handlers live in the submodules by audience: ingest for SDKs, feed for
//! downstream readers, admin for operators, ops for probes and metrics.

mod admin;
mod admission;
mod auth;
mod demo;
mod feed;
mod ingest;
mod ops;
mod server;

pub use server::ConnectionLimits;

use std::{future::Future, sync::Arc, time::Duration};

use cairn_protocol::Kind;

use axum::{
    http::{header, Method},
    routing::{delete, get, post},
    Router,
};
use tokio::{
    net::TcpListener,
    sync::{watch, Semaphore},
};
use tower_http::cors::{AllowHeaders, Any, CorsLayer};

use crate::{
    ingest::Ingest,
    keys::Keys,
    metrics::{Metrics, LINK_ANONYMOUS_CAP},
    privacy::{PiiRules, Pseudonymiser},
    store::{DataDirLock, EventStore, LinkPolicy, LogStore},
    time::{SystemClock, TimeSource},
    writer::{Writer, WriterSettings, WriterThread},
    CollectorError, Config,
};

/// In-flight memory is reserved in units of this many bytes.
const PERMIT_BYTES: usize = 1024;
/// Requests without a key before their body (no Authorization header, no beacon query
/// key) get this fraction of in-flight memory.
const KEYLESS_SHARE: usize = 8;

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    config: Config,
    keys: Keys,
    ingest: Ingest,
    store: Arc<dyn EventStore>,
    writer: Writer,
    metrics: Arc<Metrics>,
    /// Ingest requests past the door (`admission`); keyless ones have their own.
    admission: Arc<admission::Admission>,
    admission_keyless: Arc<admission::Admission>,
    /// Bodies being decompressed and parsed at once: one per core, so that the parsing
    /// threads never outnumber the cores and starve the async workers that accept,
    /// shed and answer (the admitted rest waits here, as a task, not as a thread).
    parsing: Arc<Semaphore>,
    inflight: Arc<Semaphore>,
    /// In-flight memory of requests without a key before their body (sendBeacon with the
    /// key in the body, not in the query), which cannot be authenticated before their
    /// body is read: a pool of their own, so unauthenticated bodies never take the budget
    /// of keyed requests.
    inflight_keyless: Arc<Semaphore>,
    /// Feed response bytes held until sent (`--max-response-bytes`).
    responses: Arc<Semaphore>,
    committed: watch::Receiver<u64>,
    /// Held by a deletion from its search to its zeroing: deletions finish in order.
    deletions: tokio::sync::Mutex<()>,
    stopping: watch::Receiver<bool>,
    time: Arc<dyn TimeSource>,
    /// The Kafka sink's spool budget, when the sink is on.
    spool: Option<Arc<crate::kafka::Spool>>,
}

/// A running state plus what must be stopped and joined after the server ends.
pub struct Running {
    pub state: AppState,
    writer_thread: WriterThread,
    stop: watch::Sender<bool>,
    /// Released last, once the writer has stopped writing.
    _lock: DataDirLock,
}

impl AppState {
    /// Locks the data dir (refused when another collector holds it), opens the store
    /// and keys under it and starts the writer thread.
    pub fn open(config: Config, time: Arc<dyn TimeSource>) -> Result<Running, CollectorError> {
        let lock = DataDirLock::acquire(&config.data_dir)?;
        #[cfg(feature = "fault-injection")]
        if let Some(file) = &config.fault_injection_file {
            crate::store::fault::arm(file);
        }
        let (keys, generated) = Keys::resolve(&config)?;
        for secret in generated {
            tracing::warn!(
                "generated {}: {} (kept in {}/keys.json; shown only now)",
                secret.name,
                secret.value,
                config.data_dir.display()
            );
        }
        let metrics = Arc::new(Metrics::new());
        let store: Arc<dyn EventStore> = {
            let window_ms = config.limits.dedup_window().as_millis() as i64;
            let since = (time.now().timestamp_millis() - window_ms).max(0) as u64;
            let policy = LinkPolicy {
                max_anonymous_per_user: config.limits.max_anonymous_ids_per_user,
                refused: metrics
                    .links_refused
                    .with_label_values(&[LINK_ANONYMOUS_CAP]),
            };
            Arc::new(LogStore::open(&config.data_dir, since, policy)?)
        };
        let (committed_tx, committed) = watch::channel(store.last_cursor());
        let (writer, writer_thread) = Writer::start(
            store.clone(),
            committed_tx,
            metrics.clone(),
            WriterSettings {
                max_group_events: config.limits.max_group_events,
                dedup_window: config.limits.dedup_window(),
                queue_depth: 4096,
            },
        );
        let (stop, stopping) = watch::channel(false);
        let ingest = Ingest::new(
            config.limits.clone(),
            Pseudonymiser::new(keys.hash_secret(), config.pseudonymise).with_rules(PiiRules::new(
                &config.pii_pseudonymise_keys,
                &config.pii_drop_keys,
            )),
        );
        let permits = (config.limits.max_inflight_bytes / PERMIT_BYTES).max(1);
        let spool = crate::kafka::Spool::for_config(&config, metrics.kafka.spool_full.clone());
        let pending = config.limits.max_pending_requests;
        let target = Duration::from_millis(config.limits.queue_delay_target_ms);
        let inner = Shared {
            admission: admission::Admission::new(pending, target),
            admission_keyless: admission::Admission::new((pending / KEYLESS_SHARE).max(1), target),
            parsing: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            spool,
            keys,
            ingest,
            store,
            writer,
            metrics,
            inflight: Arc::new(Semaphore::new(permits)),
            inflight_keyless: Arc::new(Semaphore::new((permits / KEYLESS_SHARE).max(1))),
            responses: Arc::new(Semaphore::new(
                (config.limits.max_response_bytes / PERMIT_BYTES).max(1),
            )),
            committed,
            deletions: tokio::sync::Mutex::new(()),
            stopping,
            time,
            config,
        };
        Ok(Running {
            state: AppState {
                inner: Arc::new(inner),
            },
            writer_thread,
            stop,
            _lock: lock,
        })
    }
}

impl AppState {
    /// What the Kafka forwarder reads from the running collector.
    pub(crate) fn forwarder_inputs(&self) -> crate::kafka::ForwarderInputs {
        let s = &self.inner;
        crate::kafka::ForwarderInputs {
            config: s.config.clone(),
            store: s.store.clone(),
            committed: s.committed.clone(),
            metrics: s.metrics.clone(),
            spool: s.spool.clone(),
        }
    }
}

impl Running {
    /// Tells long polls to return, drops this state's writer handle and waits until
    /// the writer has committed everything queued.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        drop(self.state);
        self.writer_thread.join();
    }
}

/// The router: every endpoint, with CORS so pages on other origins can post.
pub fn app(state: AppState) -> Router {
    let batch = |endpoint| post(move |s, h, b| ingest::ingest(s, endpoint, h, b));
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        // Whatever headers a browser SDK asks for (RudderStack's `AnonymousId`,
        // `RSA-Since-Last-Attempt`, `RSA-Request-Attempt`, ...; Segment's): the answer
        // never carries credentials (origin `*`), so allowing any request header
        // exposes nothing, and a client with a new header is not broken by a list.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(86400));
    let mut router = Router::new()
        .route("/v1/batch", batch(None))
        .route("/v1/import", batch(None))
        // Segment's analytics-next in batching mode posts `{writeKey, batch, sentAt}` to
        // `<apiHost>/b` (plugins/segmentio/batched-dispatcher).
        .route("/v1/b", batch(None))
        // RudderStack's analytics-js with `useBeacon` (its BeaconQueue plugin) sends
        // `{batch, sentAt}` with navigator.sendBeacon, which cannot set headers, to
        // `<dataPlaneUrl>/beacon/v1/batch?writeKey=<key>`: the key is in the query.
        .route("/beacon/v1/batch", post(ingest::beacon));
    // Each type's path, and Segment's short one: analytics-next posts an event to
    // `<apiHost>/<the first letter of its type>` (plugins/segmentio:
    // `ctx.event.type.charAt(0)`), so /v1/t, /v1/p, /v1/s, /v1/i, /v1/a, /v1/g.
    for kind in Kind::ALL {
        let name = kind.as_str();
        router = router.route(&format!("/v1/{name}"), batch(Some(kind)));
        router = router.route(&format!("/v1/{}", &name[..1]), batch(Some(kind)));
    }
    router = router
        .route("/v1/feed", get(feed::feed))
        .route("/v1/users/{user_id}", delete(admin::delete_user))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics));
    let demo = state.inner.config.demo_dir.is_some();
    if let Some(dir) = &state.inner.config.demo_dir {
        router = router
            .route("/", get(demo::to_demo))
            .route("/demo/api/events", get(demo::events))
            .nest_service("/demo", tower_http::services::ServeDir::new(dir));
    }
    if demo {
        // `/demo` without the slash would serve the page with its relative URLs broken.
        router = router.layer(axum::middleware::from_fn(demo_slash));
    }
    if let Some(spool) = &state.inner.spool {
        router = router.layer(axum::middleware::from_fn_with_state(
            spool.clone(),
            crate::kafka::gate,
        ));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::record_latency,
        ))
        .layer(cors)
        .with_state(state)
}

async fn demo_slash(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path() == "/demo" {
        return axum::response::IntoResponse::into_response(demo::to_demo().await);
    }
    next.run(request).await
}

/// Runs the collector on `listener` until `shutdown` resolves, printing
/// `cairn-collector listening on http://ADDR` once ready; then stops accepting,
/// finishes in-flight requests, commits what was acknowledged and returns.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CollectorError> {
    let running = AppState::open(config, Arc::new(SystemClock))?;
    let router = app(running.state.clone());
    let limits = running.state.inner.config.limits.connections();
    let metrics = running.state.inner.metrics.clone();
    let forwarder = crate::kafka::Forwarder::start(running.state.forwarder_inputs())?;
    // Printed only now that the data dir is locked, the keys resolved and the store
    // open; tests and scripts/run.sh wait for this line and read the port from it.
    println!(
        "cairn-collector listening on http://{}",
        listener.local_addr()?
    );
    let stop = running.stop.clone();
    let on_shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let _ = stop.send(true);
    };
    let result = server::run(listener, router, limits, metrics, on_shutdown).await;
    if let Some(forwarder) = forwarder {
        forwarder.stop().await;
    }
    tokio::task::spawn_blocking(move || running.stop())
        .await
        .map_err(|e| CollectorError::Store(format!("writer thread: {e}")))?;
    tracing::info!("stopped");
    result.map_err(CollectorError::from)
}
