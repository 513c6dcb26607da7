//! The upload loop, Glean-style: the driver asks `next_upload()` and gets an
//! `Upload` to perform, a `Wait`, or `Idle`; it performs the request and reports
//! `upload_finished(id, outcome)`. Every rule about when to send, what to send
//! and what to do with an answer lives here:
//!
//! - send when `flush_at` events are queued, `flush_interval` after the oldest,
//!   when the batch would reach `max_batch_bytes`, or after flush()/on_background();
//! - one upload in flight at a time;
//! - 2xx deletes the batch; 5xx, 408, 429 and transport errors retry with
//!   exponential backoff and full jitter, honouring Retry-After;
//! - 413 halves the batch; a single event still refused with 413 is dropped;
//! - any other 4xx drops the batch; every drop is counted in `context.dropped`;
//! - events older than `max_event_age` are dropped before building a batch.

use crate::clock::ms;
use crate::engine::{Engine, Entry, STAMP};
use crate::error::Error;
use crate::message::{expand, Dropped};
use crate::text;
use std::time::Duration;

/// Room kept in `max_batch_bytes` for the envelope and `context.dropped`.
const ENVELOPE_RESERVE: usize = 512;

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Perform this request, then call `upload_finished(upload.id, ..)`.
    Upload(Upload),
    /// Call `next_upload()` again after this long (or sooner, after any API call).
    Wait(Duration),
    /// Nothing to do until the next API call (or an upload in flight finishes).
    Idle,
}

/// One HTTP request: `POST url` with `headers` and the `body` (gzipped with the
/// `gzip` feature, the default; plain JSON without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: u64,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The JSON batch, gzip-compressed with the `gzip` feature.
    pub body: Vec<u8>,
    /// How many events the batch carries.
    pub events: usize,
}

/// How an upload ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered; `retry_after` is its parsed `Retry-After` header.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer (DNS, connect, timeout, reset...).
    Transport(String),
}

impl Outcome {
    pub fn status(code: u16) -> Self {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }
}

/// The batch currently being uploaded.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub id: u64,
    pub entries: Vec<Entry>,
    /// Stored bytes of `entries` (counted in the queue's byte bound).
    pub bytes: usize,
    /// Drop counters the batch reports.
    pub reported: Dropped,
}

/// After a 413: at most `max_events` per batch until `remaining` events went out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub max_events: usize,
    pub remaining: usize,
}

impl Engine {
    /// What the driver should do now.
    pub fn next_upload(&mut self) -> Result<Next, Error> {
        let now = self.clock.now_millis();
        let sync_wait = self.sync_if_due()?;
        let wait = |d: Duration| Next::Wait(sync_wait.map_or(d, |s| s.min(d)));
        let idle = || sync_wait.map_or(Next::Idle, Next::Wait);

        if self.in_flight.is_some() {
            return Ok(idle());
        }
        self.expire(now)?;
        // Rule: a flush holds until every event tracked before it has left the
        // queue (what Client::flush waits for); later events are batched as usual.
        if self
            .flush_until
            .is_some_and(|f| self.oldest_pending_seq().map_or(true, |o| o > f))
        {
            self.flush_until = None;
        }
        if self.queue.is_empty() {
            self.split = None;
            return Ok(idle());
        }
        if let Some(at) = self.retry_at.filter(|at| *at > now) {
            // If the wall clock jumped backwards, never wait longer than the rules allow.
            let longest = ms(self.cfg.backoff_cap.max(self.cfg.max_retry_after));
            let at = at.min(now.saturating_add(longest));
            self.retry_at = Some(at);
            return Ok(wait(dur(at.saturating_sub(now))));
        }
        let Some(oldest) = self.queue.front().map(|e| e.at) else {
            return Ok(idle());
        };
        let interval = ms(self.cfg.flush_interval);
        let due = oldest.saturating_add(interval);
        let ready = self.flush_until.is_some()
            || self.split.is_some() // the rest of a split batch was already due
            || self.queue.len() >= self.cfg.flush_at
            || self.queue_bytes + self.queue.len() * (1 + self.static_extra()) + ENVELOPE_RESERVE
                >= self.cfg.max_batch_bytes
            || now >= due
            // The clock stepped back past the oldest event: send, never wait out the step.
            || due.saturating_sub(now) > interval;
        if !ready {
            return Ok(wait(dur(due.saturating_sub(now))));
        }
        match self.build(now)? {
            Some(u) => Ok(Next::Upload(u)),
            None => Ok(idle()),
        }
    }

    /// Rule: writes are durable within `sync_interval`. Syncs if that is due and
    /// returns how long until the next sync is due (None: nothing unsynced).
    /// `next_upload` calls it; a driver also calls it while an upload is in flight.
    pub fn sync_if_due(&mut self) -> Result<Option<Duration>, Error> {
        let now = self.clock.now_millis();
        let sync_ms = ms(self.cfg.sync_interval);
        // A write stamped in the future (the clock stepped back) is due at once.
        if self
            .dirty_since
            .is_some_and(|d| d > now || now.saturating_sub(d) >= sync_ms)
        {
            self.sync()?;
        }
        Ok(self
            .dirty_since
            .map(|d| dur(d.saturating_add(sync_ms).saturating_sub(now))))
    }

    /// Reports how upload `id` ended. Unknown ids are ignored.
    pub fn upload_finished(&mut self, id: u64, outcome: Outcome) -> Result<(), Error> {
        let Some(fl) = self.in_flight.take_if(|f| f.id == id) else {
            return Ok(());
        };
        let now = self.clock.now_millis();
        let n = fl.entries.len();
        let (code, retry_after) = match outcome {
            Outcome::Status { code, retry_after } => (Some(code), retry_after),
            Outcome::Transport(_) => (None, None),
        };
        match code {
            Some(200..=299) => {
                self.key_refused = None;
                self.delete(&fl.entries)?;
                self.dropped.subtract(&fl.reported);
                self.backoff.succeed();
                self.retry_at = None;
                self.sent(n);
            }
            Some(413) if n <= 1 => {
                self.delete(&fl.entries)?;
                self.dropped.too_large += n as u64;
                self.sent(n);
            }
            Some(413) => {
                let remaining = self.split.map_or(n, |s| s.remaining.max(n));
                self.split = Some(Split {
                    max_events: n.div_ceil(2),
                    remaining,
                });
                self.requeue(fl.entries);
            }
            // Rule: a refused write key is a configuration error, never a reason
            // to lose data: the batch stays queued, uploads pause for the longest
            // backoff (`backoff_cap`, so a key fixed on the server is picked up),
            // and `key_refused` tells the app until an upload succeeds.
            Some(c @ (401 | 403)) => {
                let delay = self.backoff.fail(retry_after).max(self.cfg.backoff_cap);
                self.retry_at = Some(now.saturating_add(ms(delay)));
                self.key_refused = Some(c);
                self.requeue(fl.entries);
            }
            Some(c @ 400..=499) if c != 408 && c != 429 => {
                self.delete(&fl.entries)?;
                self.dropped.rejected += n as u64;
                self.backoff.succeed();
                self.retry_at = None;
                self.sent(n);
            }
            // 5xx, 408, 429 and transport errors; 1xx/3xx here mean a broken proxy
            // or a redirect loop: all retry later.
            _ => {
                let delay = self.backoff.fail(retry_after);
                self.retry_at = Some(now.saturating_add(ms(delay)));
                self.requeue(fl.entries);
            }
        }
        self.mark_dirty(now);
        Ok(())
    }

    /// Builds the next batch from the head of the queue and marks it in flight.
    /// Rule: on a store (or gzip) error every entry taken from the queue goes
    /// back, in order, and nothing is in flight.
    fn build(&mut self, now: i64) -> Result<Option<Upload>, Error> {
        let mut taken = Vec::new();
        let built = self.build_from(now, &mut taken);
        if built.is_err() {
            self.requeue(taken);
        }
        built
    }

    /// `build`'s work; every entry popped from the queue is pushed to `taken`.
    fn build_from(&mut self, now: i64, taken: &mut Vec<Entry>) -> Result<Option<Upload>, Error> {
        let max_events = self.split.map_or(self.cfg.max_batch_events, |s| {
            s.max_events.min(self.cfg.max_batch_events)
        });
        let budget = self.cfg.max_batch_bytes.saturating_sub(ENVELOPE_RESERVE);
        let reported = self.dropped;
        let mut reported_json = Vec::with_capacity(80);
        text::write_dropped(&mut reported_json, &reported);
        let mut body = Vec::with_capacity(self.queue_bytes.min(budget) + ENVELOPE_RESERVE);
        body.extend_from_slice(b"{\"batch\":[");
        let mut entries = Vec::new();
        let mut wire = 0usize;
        let mut missing = Vec::new();
        while let Some(e) = self.queue.front().copied() {
            if entries.len() >= max_events
                || (!entries.is_empty() && wire + self.wire_size(&e) > budget)
            {
                break;
            }
            self.queue.pop_front();
            self.queue_bytes -= e.size as usize;
            taken.push(e);
            let Some(value) = self.store.get_event(e.key)? else {
                missing.push(e.key);
                continue;
            };
            let mark = body.len();
            if !entries.is_empty() {
                body.push(b',');
            }
            let first = entries.is_empty().then_some(&reported_json[..]);
            let msg = value.get(STAMP..).unwrap_or_default();
            if !expand(&mut body, msg, &self.static_fields, first) {
                // Unreadable (foreign or damaged): never sendable, so delete it.
                body.truncate(mark);
                missing.push(e.key);
                continue;
            }
            wire += self.wire_size(&e);
            entries.push(e);
        }
        if !missing.is_empty() {
            self.store.remove_events(&missing)?;
        }
        if entries.is_empty() {
            return Ok(None);
        }
        body.extend_from_slice(b"],\"sentAt\":\"");
        text::push_rfc3339(&mut body, now);
        body.push(b'"');
        if self.cfg.write_key_in_body {
            body.extend_from_slice(b",\"writeKey\":");
            text::push_str(&mut body, &self.cfg.write_key);
        }
        body.push(b'}');

        let body = gzip(body)?;

        let id = self.next_upload_id;
        self.next_upload_id += 1;
        let count = entries.len();
        let bytes = entries.iter().map(|e| e.size as usize).sum();
        self.in_flight = Some(InFlight {
            id,
            entries,
            bytes,
            reported,
        });
        Ok(Some(Upload {
            id,
            url: self.cfg.batch_url(),
            headers: self.headers(),
            body,
            events: count,
        }))
    }

    /// Bytes an entry takes in a batch body (message, static context, comma).
    fn wire_size(&self, e: &Entry) -> usize {
        e.size as usize + self.static_extra() + 1
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut auth = String::from("Basic ");
        let mut credentials = self.cfg.write_key.clone().into_bytes();
        credentials.push(b':');
        crate::text::push_base64(&mut auth, &credentials);
        vec![
            ("Content-Type".into(), "application/json".into()),
            #[cfg(feature = "gzip")]
            ("Content-Encoding".into(), "gzip".into()),
            ("Authorization".into(), auth),
        ]
    }

    /// Rule: queued events older than `max_event_age` are dropped, counted as `expired`.
    fn expire(&mut self, now: i64) -> Result<(), Error> {
        let cutoff = now.saturating_sub(ms(self.cfg.max_event_age));
        let mut old = Vec::new();
        while let Some(e) = self.queue.front().filter(|e| e.at < cutoff).copied() {
            self.queue.pop_front();
            self.queue_bytes -= e.size as usize;
            old.push(e.key);
        }
        if !old.is_empty() {
            self.dropped.expired += old.len() as u64;
            self.store.remove_events(&old)?;
            self.mark_dirty(now);
        }
        Ok(())
    }

    fn delete(&mut self, entries: &[Entry]) -> Result<(), Error> {
        let keys: Vec<_> = entries.iter().map(|e| e.key).collect();
        self.store.remove_events(&keys)
    }

    /// Puts a failed batch back at the head of the queue, in order.
    /// Stops waiting for the upload in flight: its events are queued again
    /// (first, in order) with no failure counted and no backoff, and a later
    /// `upload_finished(id, ..)` is ignored. For a page that unloads with an
    /// upload in flight (the web tracker): its beacon then carries these events
    /// too; if the abandoned request arrives as well, the collector keeps one
    /// copy of each (it drops repeated messageIds).
    pub fn abandon_upload(&mut self, id: u64) {
        if let Some(fl) = self.in_flight.take_if(|f| f.id == id) {
            self.requeue(fl.entries);
        }
    }

    fn requeue(&mut self, entries: Vec<Entry>) {
        for e in entries.into_iter().rev() {
            self.queue_bytes += e.size as usize;
            self.queue.push_front(e);
        }
    }

    /// Bookkeeping after `n` events left the queue for good.
    fn sent(&mut self, n: usize) {
        if let Some(s) = self.split.as_mut() {
            s.remaining = s.remaining.saturating_sub(n);
            if s.remaining == 0 {
                self.split = None;
            }
        }
    }
}

/// A wait in milliseconds as a Duration (negative: none).
fn dur(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

#[cfg(feature = "gzip")]
fn gzip(data: Vec<u8>) -> Result<Vec<u8>, Error> {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    enc.write_all(&data)
        .map_err(|e| Error::Upload(e.to_string()))?;
    enc.finish().map_err(|e| Error::Upload(e.to_string()))
}

/// Without the `gzip` feature the body goes out as plain JSON.
#[cfg(not(feature = "gzip"))]
fn gzip(data: Vec<u8>) -> Result<Vec<u8>, Error> {
    Ok(data)
}
