//! The [`Tracker`] object: its exported methods, and what it owns (the client over
//! the engine and the on-device queue, sled) and the small tokio runtime whose one
//! `cairn-upload` thread uploads, stopped when the tracker is dropped.

use crate::args::{bytes, millis, parse_object};
use crate::config::{build_config, TrackerConfig};
use crate::consent::{ConsentState, Purpose};
use crate::error::{guard, CairnError};
use crate::events::TrackResult;
use crate::seed_event::SeedEvent;
use cairn::{Client, ClientOptions, Engine, Event, SledConfig, SledStore, SystemClock};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One per app (and per dataDir). Thread-safe: call it from any thread.
///
/// Calls queue to the device and return; uploads happen on the tracker's own
/// `cairn-upload` thread. Close it (Kotlin `close()`, Swift deinit, Python `del`)
/// to stop that thread; what is queued stays on disk for the next start.
#[derive(uniffi::Object)]
pub struct Tracker {
    client: Arc<Client>,
    /// The upload thread's runtime; taken (and shut down) on drop.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

#[uniffi::export]
impl Tracker {
    /// Opens the queue under `config.dataDir` and starts the upload thread.
    #[uniffi::constructor]
    pub fn new(config: TrackerConfig) -> Result<Arc<Tracker>, CairnError> {
        guard(|| {
            let cfg = build_config(&config)?;
            let store = SledStore::open_with(SledConfig {
                path: config.data_dir.clone().into(),
                cache_capacity: bytes("cacheCapacityBytes", config.cache_capacity_bytes)?,
            })
            .map_err(|e| CairnError::Store(format!("{} ({})", e, config.data_dir)))?;
            let engine = Engine::new(cfg, Arc::new(store), Arc::new(SystemClock))?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(1)
                .thread_name("cairn-upload")
                .enable_all()
                .build()
                .map_err(|e| CairnError::Stopped(format!("cannot start the upload thread: {e}")))?;
            let options = ClientOptions {
                request_timeout: millis("requestTimeoutMs", config.request_timeout_ms.max(1))?,
                ..ClientOptions::default()
            };
            let client = {
                let _inside = runtime.enter();
                Client::start(engine, options)?
            };
            Ok(Arc::new(Tracker {
                client: Arc::new(client),
                handle: runtime.handle().clone(),
                runtime: Mutex::new(Some(runtime)),
            }))
        })
    }

    /// A custom event. `propertiesJson` is a JSON object (or null); `purpose`
    /// defaults to analytics.
    #[uniffi::method(default(properties_json = None, purpose = None))]
    pub fn track(
        &self,
        event: String,
        properties_json: Option<String>,
        purpose: Option<Purpose>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let props = parse_object("properties", properties_json)?;
            let mut e = Event::track(event, Value::Object(props))?;
            if let Some(p) = purpose {
                e = e.purpose(p.into());
            }
            Ok(self.client.track_event(e)?.into())
        })
    }

    /// An event of the table with typed fields, plus optional extra properties;
    /// `purpose` overrides the table's purpose for it.
    #[uniffi::method(default(properties_json = None, purpose = None))]
    pub fn track_event(
        &self,
        event: SeedEvent,
        properties_json: Option<String>,
        purpose: Option<Purpose>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let extra = parse_object("properties", properties_json)?;
            let mut e = event.into_event()?;
            e.properties.extend(extra);
            if let Some(p) = purpose {
                e = e.purpose(p.into());
            }
            Ok(self.client.track_event(e)?.into())
        })
    }

    /// A screen view (Segment `screen`).
    #[uniffi::method(default(properties_json = None))]
    pub fn screen(
        &self,
        name: String,
        properties_json: Option<String>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let props = parse_object("properties", properties_json)?;
            Ok(self.client.screen(&name, Value::Object(props))?.into())
        })
    }

    /// Who the user is. The user id and the `email` / `phone` traits are hashed
    /// on the device (HMAC-SHA256 under hashKey) before they are stored.
    #[uniffi::method(default(traits_json = None))]
    pub fn identify(
        &self,
        user_id: String,
        traits_json: Option<String>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let traits = parse_object("traits", traits_json)?;
            Ok(self
                .client
                .identify(&user_id, Value::Object(traits))?
                .into())
        })
    }

    /// Links the current identity to `newUserId` (hashed like identify).
    pub fn alias(&self, new_user_id: String) -> Result<TrackResult, CairnError> {
        guard(|| Ok(self.client.alias(&new_user_id)?.into()))
    }

    /// Puts the user in a group (company, household, ...).
    #[uniffi::method(default(traits_json = None))]
    pub fn group(
        &self,
        group_id: String,
        traits_json: Option<String>,
    ) -> Result<TrackResult, CairnError> {
        guard(|| {
            let traits = parse_object("traits", traits_json)?;
            Ok(self.client.group(&group_id, Value::Object(traits))?.into())
        })
    }

    /// Logout: a new anonymousId, no user, a new session. Queued events keep
    /// the identity they were tracked with.
    pub fn reset(&self) -> Result<(), CairnError> {
        guard(|| Ok(self.client.reset()?))
    }

    /// Sets the user's consent (persisted). Revoked purposes are purged from
    /// the device queue, including an upload in flight, before this returns.
    pub fn set_consent(&self, consent: ConsentState) -> Result<(), CairnError> {
        guard(|| Ok(self.client.set_consent(consent.into())?))
    }

    /// The consent in force.
    pub fn consent(&self) -> Result<ConsentState, CairnError> {
        guard(|| Ok(self.client.with_engine(|e| e.consent()).into()))
    }

    /// The device's anonymous id (a UUID, persisted; new after reset).
    pub fn anonymous_id(&self) -> Result<String, CairnError> {
        guard(|| Ok(self.client.with_engine(|e| e.anonymous_id().to_string())))
    }

    /// Events waiting on the device.
    pub fn queued(&self) -> Result<i64, CairnError> {
        guard(|| Ok(self.client.with_engine(|e| e.queued() as i64)))
    }

    /// Starts uploading everything queued now and returns at once.
    pub fn flush(&self) -> Result<(), CairnError> {
        guard(|| {
            let client = self.client.clone();
            // Everything, the engine's flush (an fsync) included, runs on the upload
            // thread: Client::flush marks the queue due and wakes the upload loop.
            // Its result is not awaited here (flushAwait does that).
            self.handle.spawn(async move {
                let _ = client.flush().await;
            });
            Ok(())
        })
    }

    /// The app came to the foreground (may start a new session).
    pub fn on_foreground(&self) -> Result<(), CairnError> {
        guard(|| {
            self.client.on_foreground();
            Ok(())
        })
    }

    /// The app went to the background: the queue is made durable now (fsync)
    /// and an upload starts; call it from onStop / sceneDidEnterBackground.
    pub fn on_background(&self) -> Result<(), CairnError> {
        guard(|| Ok(self.client.on_background()?))
    }

    /// Uploads everything tracked before this call and waits for it (suspend /
    /// async). Err(Upload) on the first failed attempt, Err(Timeout) after
    /// `timeoutMs`; either way the events stay queued for retry.
    pub async fn flush_await(&self, timeout_ms: i64) -> Result<(), CairnError> {
        let limit = millis("timeoutMs", timeout_ms)?;
        let client = self.client.clone();
        // The wait runs on the upload runtime (it needs tokio's timer); the
        // foreign executor only awaits the join handle.
        let task = self
            .handle
            .spawn(async move { tokio::time::timeout(limit, client.flush()).await });
        match task.await {
            Ok(Ok(r)) => Ok(r?),
            Ok(Err(_elapsed)) => Err(CairnError::Timeout(timeout_ms)),
            Err(e) if e.is_cancelled() => Err(CairnError::Stopped("the tracker was closed".into())),
            Err(e) => Err(CairnError::Internal(format!("flush task: {e}"))),
        }
    }

    /// Uploads what it can within `timeoutMs`, then stops the upload thread's
    /// loop and makes the rest durable for the next start. Calls after this
    /// still queue (to disk) but nothing is uploaded until a new Tracker.
    pub async fn shutdown(&self, timeout_ms: i64) -> Result<(), CairnError> {
        let limit = millis("timeoutMs", timeout_ms)?;
        let client = self.client.clone();
        let task = self
            .handle
            .spawn(async move { client.shutdown(limit).await });
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cairn::Error::Timeout)) => Err(CairnError::Timeout(timeout_ms)),
            Ok(Err(e)) => Err(e.into()),
            Err(e) if e.is_cancelled() => Err(CairnError::Stopped("the tracker was closed".into())),
            Err(e) => Err(CairnError::Internal(format!("shutdown task: {e}"))),
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // Make what is queued durable, then stop the upload thread without
        // waiting for a request in flight (its events stay queued).
        let _ = self.client.with_engine(|e| e.sync());
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = runtime {
            rt.shutdown_background();
        }
    }
}
