//! The HTTP surface: `app(state)` builds the router, `serve` runs it beside the feed
//! follower until shutdown. Handlers live by audience: `reco` for shop pages (open,
//! CORS), `profiles` for back offices (the API key when one is set), `dashboard` for
//! people.

mod dashboard;
mod profiles;
mod reco;

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicU64},
        Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
};

use axum::{http::HeaderMap, routing::get, Router};
use tokio::{net::TcpListener, sync::watch};
use tower_http::cors::{Any, CorsLayer};

use crate::{
    config::Secrets,
    follower,
    ids::Ids,
    model::Model,
    rules::Rules,
    snapshot::{Store, Writer, WriterStatus},
    time::TimeSource,
    Config, RecoError, SystemClock,
};

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub config: Config,
    pub secrets: Secrets,
    pub ids: Ids,
    pub rules: Rules,
    pub model: RwLock<Model>,
    pub time: Arc<dyn TimeSource>,
    pub status: Status,
    /// The snapshot writer's report.
    pub snapshots: Arc<WriterStatus>,
}

/// What the follower reports about the feed.
#[derive(Default)]
pub(crate) struct Status {
    pub caught_up: AtomicBool,
    pub collector_up: AtomicBool,
    /// The highest cursor seen in the feed.
    pub head: AtomicU64,
    /// Records read and applied (or skipped) since start.
    pub applied: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Where the follower's time goes, in microseconds: waiting on the collector,
    /// parsing pages, waiting for the model's write lock, applying, snapshots.
    pub time_fetch_us: AtomicU64,
    pub time_parse_us: AtomicU64,
    pub time_lock_us: AtomicU64,
    pub time_apply_us: AtomicU64,
    pub time_snapshot_us: AtomicU64,
    /// Recommendation requests: how many, their time holding or waiting for the
    /// model's read lock (sum and longest wait), in microseconds.
    pub requests: AtomicU64,
    pub request_lock_us: AtomicU64,
    pub request_lock_max_us: AtomicU64,
    pub request_us: AtomicU64,
    /// Kafka messages skipped as duplicates (messageId seen within the window).
    pub duplicates: AtomicU64,
    /// Kafka partitions assigned to this member now.
    pub partitions: AtomicU64,
    /// Where reading of each partition held now started (`topic:partition` -> offset):
    /// the larger of the member's own position and the group's committed offset
    /// (a partition neither has a position for, read from its beginning, is absent).
    pub placed: Mutex<std::collections::BTreeMap<String, i64>>,
    /// Times the model was rebuilt from cursor 0 because the collector was wiped.
    pub rebuilds: AtomicU64,
}

/// Makes ring rustls' process-wide crypto provider (reqwest refuses to start without
/// one when the workspace enables rustls, even for plain HTTP).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl AppState {
    /// Resolves keys and rules and loads the snapshot (or starts empty); the writer
    /// thread starts with it.
    pub fn open(config: Config, time: Arc<dyn TimeSource>) -> Result<(Self, Writer), RecoError> {
        let secrets = config.secrets()?;
        let rules = Rules::load(config.rules.as_deref())?;
        let (store, loaded) = Store::open(&config.data_dir, config.half_life_ms())?;
        let now_ms = time.now_ms();
        let mut model = match loaded {
            Some(l) => l.model,
            None => Model::new(config.half_life_ms(), now_ms),
        };
        model.rebuild(&rules, now_ms);
        tracing::info!(
            cursor = model.cursor,
            profiles = model.profiles.len(),
            "state loaded"
        );
        let writer = Writer::start(store);
        let state = Self {
            inner: Arc::new(Shared {
                snapshots: writer.status.clone(),
                ids: Ids::new(&secrets.hash_secret, &secrets.project_hash_key),
                secrets,
                rules,
                model: RwLock::new(model),
                time,
                status: Status::default(),
                config,
            }),
        };
        Ok((state, writer))
    }

    pub fn model(&self) -> RwLockReadGuard<'_, Model> {
        self.inner.model.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn model_mut(&self) -> RwLockWriteGuard<'_, Model> {
        self.inner.model.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The write lock, taken only when no reader holds the model: the follower never
    /// queues as a waiting writer, which would hold every new request back behind it
    /// (requests come first; the follower retries within microseconds). Blocking: call
    /// it off the runtime's workers.
    pub fn model_mut_when_free(&self) -> RwLockWriteGuard<'_, Model> {
        let mut spins = 0u32;
        loop {
            match self.inner.model.try_write() {
                Ok(g) => return g,
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    spins += 1;
                    if spins < 50 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
            }
        }
    }

    /// The API key check of the back-office routes (none when no key is configured).
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), RecoError> {
        let Some(key) = &self.inner.config.api_key else {
            return Ok(());
        };
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given == Some(key.as_str()) {
            Ok(())
        } else {
            Err(RecoError::Unauthorized)
        }
    }
}

pub fn app(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([axum::http::Method::GET])
        .allow_headers([axum::http::header::AUTHORIZATION]);
    Router::new()
        .route("/api/recommendations", get(reco::recommendations))
        .route("/api/v1/users/{user_id}/profile", get(profiles::profile))
        .route(
            "/api/v1/users/{user_id}/cohorts",
            get(profiles::user_cohorts),
        )
        .route("/api/v1/cohorts", get(profiles::cohorts))
        .route("/api/v1/cohorts/{id}/members", get(profiles::members))
        .route("/api/v1/cohorts/{id}/stats", get(profiles::cohort_stats))
        .route("/api/v1/experiments", get(profiles::experiments))
        .route("/api/v1/stats", get(profiles::stats))
        .route("/dashboard", get(dashboard::page))
        .route("/", get(dashboard::root))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(reco::readyz))
        .layer(cors)
        .with_state(state)
}

/// Runs the service until `shutdown` resolves: the follower stops, then writes the
/// last snapshot.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RecoError> {
    let kafka = config.kafka_brokers.is_some();
    let (state, writer) = AppState::open(config, Arc::new(SystemClock))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let reader = if kafka {
        read_kafka(state.clone(), writer, stop_rx)?
    } else {
        tokio::spawn(follower::run(state.clone(), writer, stop_rx))
    };
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = reader.await;
    served.map_err(RecoError::Io)
}

/// The Kafka reader on a thread of its own (its client blocks), awaited as a task; a
/// consumer that cannot be created fails the service.
#[cfg(feature = "kafka")]
fn read_kafka(
    state: AppState,
    writer: crate::snapshot::Writer,
    stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, RecoError> {
    crate::kafka::start(state, writer, stop)
}

#[cfg(not(feature = "kafka"))]
fn read_kafka(
    _: AppState,
    _: crate::snapshot::Writer,
    _: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, RecoError> {
    Err(RecoError::Config(crate::config::NO_KAFKA_BUILD.into()))
}
