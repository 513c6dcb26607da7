//! The feed follower: the model's only writer.
//!
//! Rules:
//! - it reads `GET /v1/feed?after=<model cursor>&limit=&wait=` with the read key,
//!   applies the page in cursor order (records at or below the cursor are skipped),
//!   and asks again at once; an empty page after `wait` seconds just means quiet;
//! - a page shorter than `limit` means it reached the head: the service is then
//!   caught up (see `/readyz` and the 503 rule of recommendations);
//! - while the collector is away or refuses (connection error, 5xx, 401) it backs
//!   off exponentially with jitter, from 100 ms to `--max-backoff-ms`;
//! - it writes the snapshot itself between pages (so the snapshot is always at a
//!   page boundary and readers are never blocked by it): at once after a deletion or
//!   revocation, else when due;
//! - once a minute it re-evaluates cohorts that time alone changes (dormant...).

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use cairn_protocol::feed::FeedRecord;
use serde_json::Value;
use tokio::sync::watch;

use crate::{
    model::{prepare, Ctx, Effect, Prepared},
    snapshot::Snapshots,
    AppState, RecoError,
};

/// Records applied per write-lock hold, so readers wait at most that long.
const CHUNK: usize = 32;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const DRIFT_EVERY: Duration = Duration::from_secs(60);

enum Fetch {
    Page(Vec<FeedRecord<Value>>),
    Failed(String),
}

async fn fetch(client: &reqwest::Client, url: &str, key: &str) -> Fetch {
    let response = match client.get(url).bearer_auth(key).send().await {
        Ok(r) => r,
        Err(e) => return Fetch::Failed(format!("collector unreachable: {e}")),
    };
    let status = response.status();
    if !status.is_success() {
        return Fetch::Failed(format!("collector answered {status}"));
    }
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) => return Fetch::Failed(format!("feed read failed: {e}")),
    };
    // Parsing a page is CPU work: off the runtime's workers.
    tokio::task::block_in_place(|| {
        let mut records = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<FeedRecord<Value>>(line) {
                Ok(r) => records.push(r),
                Err(e) => return Fetch::Failed(format!("unreadable feed line: {e}")),
            }
        }
        Fetch::Page(records)
    })
}

fn add_us(counter: &std::sync::atomic::AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}

fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos() as u64);
    let half = d.as_millis() as u64 / 2;
    Duration::from_millis(half + nanos % (half + 1))
}

/// Writes the snapshot (the model serialised under a read lock, written without it).
/// Writes the snapshot: encoded under a read lock (requests keep reading) on a thread
/// of lower scheduling priority, so on a busy machine requests get the CPU first; the
/// follower waits for it, so the snapshot is at a page boundary.
async fn save(state: &AppState, snapshots: &Snapshots) -> Result<Duration, RecoError> {
    let started = Instant::now();
    let (state, snapshots) = (state.clone(), snapshots.clone());
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    lower_priority();
                    let bytes = Snapshots::encode(&state.model());
                    snapshots.save(&bytes)
                })
                .join()
                .map_err(|_| RecoError::Internal("snapshot thread panicked".into()))?
        })
    })
    .await
    .map_err(|e| RecoError::Internal(format!("snapshot task: {e}")))??;
    Ok(started.elapsed())
}

/// Nice 10 for the calling thread (Linux schedules threads by their own nice value).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (who = 0) has no memory effects.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

pub async fn run(state: AppState, snapshots: Snapshots, mut stop: watch::Receiver<bool>) {
    let s = state.inner.clone();
    crate::http::install_tls_provider();
    let wait_secs = s.config.feed_wait_secs;
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(wait_secs + 15))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client");
            return;
        }
    };
    let base = s.config.collector.trim_end_matches('/').to_owned();
    let max_backoff = Duration::from_millis(s.config.max_backoff_ms.max(100));
    let mut backoff = MIN_BACKOFF;
    let mut dirty = false;
    let mut forgot = false;
    let mut last_save = Instant::now();
    let mut save_every = s.config.snapshot_interval();
    let mut last_drift = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        let cursor = state.model().cursor;
        // Until caught up, no waiting: an empty page is how the head is found. With
        // unsaved changes, come back within a second to write them.
        let wait = if !s.status.caught_up.load(Ordering::Relaxed) {
            0
        } else if dirty {
            1
        } else {
            wait_secs
        };
        let url = format!(
            "{base}/v1/feed?after={cursor}&limit={}&wait={wait}",
            s.config.feed_page
        );
        let asked = Instant::now();
        let fetched = tokio::select! {
            f = fetch(&client, &url, &s.secrets.read_key) => f,
            _ = stop.changed() => break,
        };
        add_us(&s.status.time_fetch_us, asked);
        match fetched {
            Fetch::Page(records) => {
                backoff = MIN_BACKOFF;
                s.status.collector_up.store(true, Ordering::Relaxed);
                let full = records.len() >= s.config.feed_page;
                if let Some(last) = records.last() {
                    s.status.head.fetch_max(last.cursor, Ordering::Relaxed);
                }
                // Applying is CPU work: off the runtime's workers, so requests keep
                // being served; parsed outside the lock, applied in short holds.
                tokio::task::block_in_place(|| {
                    for chunk in records.chunks(CHUNK) {
                        let now_ms = s.time.now_ms();
                        let ctx = Ctx {
                            ids: &s.ids,
                            rules: &s.rules,
                            now_ms,
                        };
                        let t = Instant::now();
                        let prepared: Vec<(u64, Prepared)> = chunk
                            .iter()
                            .map(|r| (r.cursor, prepare(r, &s.ids, now_ms)))
                            .collect();
                        add_us(&s.status.time_parse_us, t);
                        let t = Instant::now();
                        let mut model = state.model_mut_when_free();
                        add_us(&s.status.time_lock_us, t);
                        let t = Instant::now();
                        for (cursor, p) in prepared {
                            match model.apply_prepared(cursor, p, &ctx) {
                                Effect::Skipped => {}
                                Effect::Applied => dirty = true,
                                Effect::Forgot => {
                                    dirty = true;
                                    forgot = true;
                                }
                            }
                        }
                        drop(model);
                        add_us(&s.status.time_apply_us, t);
                        s.status
                            .applied
                            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        // Let waiting readers in before the next hold.
                        std::thread::yield_now();
                    }
                    state.model_mut_when_free().refresh();
                    // The page is dropped here too, off the workers.
                    drop(records);
                });
                if !full && !s.status.caught_up.swap(true, Ordering::Relaxed) {
                    tracing::info!(cursor = state.model().cursor, "caught up with the feed");
                }
            }
            Fetch::Failed(e) => {
                if s.status.collector_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "collector away; backing off");
                }
                *s.status.last_error.lock().expect("lock") = Some(e);
                let pause = jitter(backoff);
                backoff = (backoff * 2).min(max_backoff);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => break,
                }
            }
        }
        if last_drift.elapsed() >= DRIFT_EVERY {
            let now_ms = s.time.now_ms();
            tokio::task::block_in_place(|| {
                let drift = state.model().cohort_drift(&s.rules, now_ms);
                if !drift.is_empty() {
                    state.model_mut_when_free().apply_drift(drift);
                }
            });
            last_drift = Instant::now();
        }
        if forgot || (dirty && last_save.elapsed() >= save_every) {
            let t = Instant::now();
            let saved = save(&state, &snapshots).await;
            add_us(&s.status.time_snapshot_us, t);
            match saved {
                Ok(took) => {
                    save_every = s.config.snapshot_interval().max(took * 30);
                    dirty = false;
                    forgot = false;
                    last_save = Instant::now();
                }
                Err(e) => tracing::error!(error = %e, "snapshot failed"),
            }
        }
    }
    if dirty {
        if let Err(e) = save(&state, &snapshots).await {
            tracing::error!(error = %e, "final snapshot failed");
        }
    }
}
