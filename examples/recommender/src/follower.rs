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
//! - between pages it takes a snapshot cut (microseconds under the lock, see
//!   [`crate::snapshot`]) when one is due and none is being written: at most every
//!   `--snapshot-ms`, and at least thirty times the CPU time the last one took apart;
//!   a forgotten person goes to the writer at once (redaction);
//! - before its first read, after the collector was away, and after every empty page it
//!   checks that the collector's feed still holds the record at its cursor (the same
//!   fingerprint): a feed that ends below the cursor, or holds another record there,
//!   belongs to a wiped or replaced collector, and the model is rebuilt from cursor 0;
//! - once a minute it re-evaluates cohorts that time alone changes (dormant...).

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use cairn_protocol::feed::FeedRecord;
use serde_json::Value;
use tokio::sync::watch;

use crate::{
    model::{fingerprint, prepare, Ctx, Effect, Model, Prepared},
    snapshot::{Cut, Writer},
    AppState,
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

pub(crate) fn add_us(counter: &std::sync::atomic::AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}

fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos() as u64);
    let half = d.as_millis() as u64 / 2;
    Duration::from_millis(half + nanos % (half + 1))
}

/// What the check of the feed's position found.
enum Position {
    /// The feed holds the record at the cursor (or hides it after a deletion).
    Held,
    /// The feed ends below the cursor or holds another record there.
    Lost(String),
    Unknown(String),
}

/// Asks the collector for the record at `cursor` (`after = cursor - 1, limit = 1`).
async fn check_position(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    cursor: u64,
    fingerprint_at: u64,
) -> Position {
    if cursor == 0 {
        return Position::Held;
    }
    let url = format!("{base}/v1/feed?after={}&limit=1&wait=0", cursor - 1);
    match fetch(client, &url, key).await {
        Fetch::Failed(e) => Position::Unknown(e),
        Fetch::Page(records) => match records.first() {
            None => Position::Lost(format!("the feed ends below cursor {cursor}")),
            Some(r) if r.cursor == cursor && fingerprint(r) != fingerprint_at => {
                Position::Lost(format!("the feed holds another record at cursor {cursor}"))
            }
            // The record itself, or (cursor above ours) it was hidden by a deletion and
            // the feed goes on after it.
            Some(_) => Position::Held,
        },
    }
}

/// Takes a cut when one is due (or `force`d) and the writer is free.
fn maybe_cut(state: &AppState, writer: &Writer, force: bool, due: bool) -> bool {
    let w = &writer.status;
    if w.busy.load(Ordering::SeqCst) || !(force || due) {
        return false;
    }
    let cut = tokio::task::block_in_place(|| take_cut(state, writer));
    writer.write(cut);
    true
}

/// A cut of the model, with the shards of an abandoned one marked dirty again (both
/// inputs, the HTTP feed here and Kafka, take their cuts through this).
pub(crate) fn take_cut(state: &AppState, writer: &Writer) -> Cut {
    let w = &writer.status;
    let forgets = w.forgets.load(Ordering::SeqCst);
    let remark = std::mem::take(&mut *w.remark.lock().expect("lock"));
    let mut model = state.model_mut_when_free();
    for i in remark.0 {
        model.profiles.mark_dirty(i);
    }
    for i in remark.1 {
        model.items.mark_dirty(i);
    }
    Cut::take(&mut model, forgets)
}

pub async fn run(state: AppState, mut writer: Writer, mut stop: watch::Receiver<bool>) {
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
    // Records applied since the last cut.
    let mut dirty = false;
    let mut force_cut = false;
    let mut last_cut = Instant::now();
    let mut last_drift = Instant::now();
    let mut check = true;
    loop {
        if *stop.borrow() {
            break;
        }
        if check {
            let (cursor, at) = {
                let m = state.model();
                (m.cursor, m.last_fingerprint)
            };
            let checked = tokio::select! {
                p = check_position(&client, &base, &s.secrets.read_key, cursor, at) => p,
                _ = stop.changed() => break,
            };
            match checked {
                Position::Held => {}
                Position::Lost(why) => {
                    tracing::warn!(%why, "the collector was wiped or replaced: rebuilding from cursor 0");
                    *s.status.last_error.lock().expect("lock") =
                        Some(format!("{why}: rebuilt from cursor 0"));
                    let now_ms = s.time.now_ms();
                    tokio::task::block_in_place(|| {
                        let mut fresh = Model::new(s.config.half_life_ms(), now_ms);
                        fresh.profiles.mark_all_dirty();
                        fresh.links.mark_all_dirty();
                        fresh.items.mark_all_dirty();
                        let mut model = state.model_mut_when_free();
                        *model = fresh;
                        model.rebuild(&s.rules, now_ms);
                    });
                    s.status.rebuilds.fetch_add(1, Ordering::Relaxed);
                    s.status.caught_up.store(false, Ordering::Relaxed);
                    s.status.head.store(0, Ordering::Relaxed);
                    dirty = true;
                    force_cut = true;
                }
                Position::Unknown(e) => {
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
                    continue;
                }
            }
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
                check = records.is_empty();
                if let Some(last) = records.last() {
                    s.status.head.fetch_max(last.cursor, Ordering::Relaxed);
                }
                // Applying is CPU work: off the runtime's workers, so requests keep
                // being served; parsed outside the lock, applied in short holds.
                let forgotten = tokio::task::block_in_place(|| {
                    let mut forgotten = Vec::new();
                    for chunk in records.chunks(CHUNK) {
                        let now_ms = s.time.now_ms();
                        let ctx = Ctx {
                            ids: &s.ids,
                            rules: &s.rules,
                            now_ms,
                        };
                        let t = Instant::now();
                        let prepared: Vec<(u64, u64, Prepared)> = chunk
                            .iter()
                            .map(|r| (r.cursor, fingerprint(r), prepare(r, &s.ids, now_ms)))
                            .collect();
                        add_us(&s.status.time_parse_us, t);
                        let t = Instant::now();
                        let mut model = state.model_mut_when_free();
                        add_us(&s.status.time_lock_us, t);
                        let t = Instant::now();
                        for (cursor, print, p) in prepared {
                            match model.apply_prepared(cursor, print, p, &ctx) {
                                Effect::Skipped => {}
                                Effect::Applied | Effect::Forgot => dirty = true,
                            }
                        }
                        forgotten.append(&mut model.forgotten);
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
                    forgotten
                });
                if !forgotten.is_empty() {
                    writer.forget(forgotten);
                }
                if !full && !s.status.caught_up.swap(true, Ordering::Relaxed) {
                    tracing::info!(cursor = state.model().cursor, "caught up with the feed");
                }
            }
            Fetch::Failed(e) => {
                if s.status.collector_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "collector away; backing off");
                }
                *s.status.last_error.lock().expect("lock") = Some(e);
                check = true;
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
        let every = s.config.snapshot_interval().max(Duration::from_micros(
            writer.status.last_cpu_us.load(Ordering::Relaxed) * 30,
        ));
        let t = Instant::now();
        if maybe_cut(
            &state,
            &writer,
            force_cut,
            dirty && last_cut.elapsed() >= every,
        ) {
            dirty = false;
            force_cut = false;
            last_cut = Instant::now();
        }
        add_us(&s.status.time_snapshot_us, t);
    }
    // The last cut after every queued job (an abandoned cut's shards marked dirty
    // again), then the writer stops.
    tokio::task::block_in_place(|| writer.drain());
    maybe_cut(&state, &writer, true, true);
    tokio::task::block_in_place(|| writer.finish());
}
