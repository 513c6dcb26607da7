//! # cairn-wasm: the Cairn web tracker
//!
//! The SDK core (`cairn::Engine`) compiled to wasm32, plus the browser driver: a write-behind store (`store::WebStore`), uploads through the
//! JavaScript host (fetch with keepalive, sendBeacon when the page unloads) and
//! timers. The public, camelCase API is `js/cairn.js` (typed by `js/cairn.d.ts`):
//! it owns the browser plumbing (IndexedDB, Web Locks, listeners) and calls the
//! functions exported here, which take properties as JSON text (embedded after a
//! validity check, never parsed into values) and options as plain arguments.
//!
//! No bindings generator: the boundary with JavaScript is written by hand
//! (`host.rs` here, `js/wasm.js` there), numbers as numbers and text as bytes in
//! memory, so neither side carries generated glue.
//!
//! Everything compiles on the host target too (the imports are stubs there), so
//! the workspace's clippy and the store's unit tests run natively.

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod alloc;
mod host;
mod options;
pub mod store;

/// Power-of-two size classes instead of std's dlmalloc or talc: a fraction of the
/// code (single-threaded wasm; see alloc.rs).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: alloc::Classes = alloc::Classes::new();

use cairn::{Clock, Consent, Engine, EventKind, Next, Outcome, Purpose, Tracked};
use host::{beacon, commit, fail, put, send, settled, wake};
use std::cell::RefCell;
use std::sync::Arc;
use store::WebStore;

/// Every error the web tracker reports; JavaScript receives a real `Error` with
/// this message (the one mapping is `fail` in `with` and `start` below: the
/// host throws it when the export returns).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Core(#[from] cairn::Error),
    #[error("cairn is not initialised: await init({{ writeKey }}) first")]
    NotInitialised,
    #[error("{0}")]
    Invalid(String),
}

impl WebError {
    /// The `Display` text, written without `core::fmt` (which the wasm then
    /// mostly does without); a test checks that both agree.
    fn message(&self) -> String {
        use cairn::Error as E;
        let (head, tail): (&str, &str) = match self {
            WebError::Invalid(s) => ("", s),
            WebError::NotInitialised => (
                "cairn is not initialised: await init({ writeKey }) first",
                "",
            ),
            WebError::Core(E::EventTooLarge { size, max }) => {
                return [
                    "event is ",
                    &digits(*size as u64),
                    " bytes, over the ",
                    &digits(*max as u64),
                    " byte limit",
                ]
                .concat()
            }
            WebError::Core(E::EmptyName) => ("event name or id is empty", ""),
            WebError::Core(E::NotAnObject) => (
                "properties/traits must be a JSON object, email/phone traits a string or number",
                "",
            ),
            WebError::Core(E::Config(s)) => ("invalid config: ", s),
            WebError::Core(E::Store(s)) => ("store: ", s),
            WebError::Core(E::Corrupt(s)) => ("corrupt stored data: ", s),
            WebError::Core(E::Upload(s)) => ("upload failed: ", s),
            WebError::Core(_) => ("cairn: internal error", ""),
        };
        [head, tail].concat()
    }
}

/// `n` in decimal (the core's writer: no `core::fmt`, no second copy).
pub(crate) fn digits(n: u64) -> String {
    let mut b = Vec::with_capacity(20);
    cairn::push_u64(&mut b, n);
    String::from_utf8(b).unwrap_or_default()
}

type R<T> = Result<T, WebError>;

/// `Date.now()`.
struct JsClock;
impl Clock for JsClock {
    fn now_millis(&self) -> i64 {
        host::now() as i64
    }
}

/// Persisted while the collector did not answer (so a page closed while offline
/// keeps its queue for the next page instead of beaconing it into the void).
const KV_DOWN: &str = "web_down";

struct Tracker {
    engine: Engine,
    store: Arc<WebStore>,
    /// Id of the upload handed to the host and not answered yet.
    sending: Option<u64>,
    /// Adopted events wait for the upload in flight before the engine reloads.
    reload_due: bool,
}

thread_local! {
    static STORE: Arc<WebStore> = Arc::new(WebStore::default());
    static T: RefCell<Option<Tracker>> = const { RefCell::new(None) };
}

/// Runs `f` on the tracker, then keeps the upload loop and the store moving. An
/// error is handed to the host (`fail`), which throws it; the export returns the
/// default value then.
fn with<X: Default>(f: impl FnOnce(&mut Tracker) -> R<X>) -> X {
    let out = T.with(|t| {
        let mut g = t.borrow_mut();
        let t = g.as_mut().ok_or(WebError::NotInitialised)?;
        let out = f(t);
        // Whatever happened, keep the upload loop and the store moving.
        let driven = t.drive();
        out.and_then(|x| driven.map(|_| x))
    });
    report(out)
}

/// The value, or the default after handing the error to the host.
fn report<X: Default>(r: R<X>) -> X {
    r.unwrap_or_else(|e| {
        fail(&e.message());
        X::default()
    })
}

impl Tracker {
    /// Runs the core's upload loop once: start an upload, arm a timer, write the store.
    fn drive(&mut self) -> R<()> {
        if self.reload_due && self.sending.is_none() {
            self.reload()?;
        }
        let mut next = self.engine.next_upload()?;
        if let Next::Upload(u) = next {
            let mut headers = String::new();
            for (k, v) in &u.headers {
                for s in [k, "\n", v, "\n"] {
                    headers.push_str(s);
                }
            }
            self.sending = Some(u.id);
            send(u.id as f64, &u.url, &headers, &u.body);
            // One upload in flight: this is only a sync timer or Idle.
            next = self.engine.next_upload()?;
        }
        wake(match next {
            // Whole ms without `as_millis`'s u128 (no 128-bit arithmetic).
            Next::Wait(d) => d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_millis()),
            _ => -1.0,
        });
        self.commit();
        Ok(())
    }

    fn commit(&self) {
        if self.store.commit(&mut put) {
            commit();
        }
    }

    fn settle(&self, error: &str) {
        let oldest = self.engine.oldest_pending_seq().map_or(-1.0, |s| s as f64);
        settled(oldest, error);
    }

    fn set_down(&mut self, down: bool) -> R<()> {
        use cairn::Store;
        self.store.set(KV_DOWN, if down { b"1" } else { b"" })?;
        Ok(())
    }

    fn down(&self) -> bool {
        use cairn::Store;
        matches!(self.store.get(KV_DOWN), Ok(Some(v)) if v == b"1")
    }

    /// Re-reads the queue from the store, picking up adopted events (overdue).
    fn reload(&mut self) -> R<()> {
        if self.engine.reload_events()? {
            self.engine.flush()?;
            self.reload_due = false;
        }
        Ok(())
    }

    fn after_consent(&mut self) {
        if self.engine.consent() != Consent::none() {
            self.store.enable_persist();
        }
    }
}

fn purpose(name: &str) -> R<Purpose> {
    if name.is_empty() {
        return Ok(Purpose::Analytics);
    }
    Purpose::ALL
        .into_iter()
        .find(|p| p.as_str() == name)
        .ok_or_else(|| WebError::Invalid(["unknown purpose \"", name, "\""].concat()))
}

fn queued(t: Tracked) -> bool {
    t == Tracked::Queued
}

// --- Exports (called by js/cairn.js only) ----------------------------------------

// The two store hand-overs share one export (fewer shims and less glue):
//   load(key, value): one stored `k:` entry, before `start` (the host's start-up
//     read); returns "".
//   adopt(value) with `purpose` (its index) >= 0: an event left by a closed tab;
//     returns its new key, which the host writes (with the old key's deletion) in
//     one transaction. Before `start` it is simply loaded; afterwards the engine
//     reloads to include it at the next `pump` (the host calls it once after
//     adopting a batch). An empty key: the purpose is not consented, the event is
//     not taken (the host only deletes it).
//   anonymousId with `purpose` -2: the anonymous id (key and value unused).
/// # Safety
/// `block` and the arguments in it as `host::args_block` and `host::arg` take
/// them, `key` UTF-8.
#[export_name = "O"]
pub unsafe extern "C" fn stored(
    purpose: i32,
    block: *mut u8,
    size: usize,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> *const u8 {
    let _block = host::args_block(block, size);
    let (key, value) = (host::text(key, key_len), host::arg(value, value_len));
    host::out(stored_entry(purpose, key, value.to_vec()))
}

fn stored_entry(purpose: i32, key: &str, value: Vec<u8>) -> String {
    if purpose == -2 {
        // For tests and for joining with server-side data.
        return with(|t| Ok(t.engine.anonymous_id().to_owned()));
    }
    if purpose < 0 {
        STORE.with(|s| s.load(key, value));
        return String::new();
    }
    let Some(p) = Purpose::from_index(purpose as u8) else {
        return report(Err(WebError::Invalid("purpose".into())));
    };
    let taken = T.with(|t| match t.borrow_mut().as_mut() {
        Some(t) if !t.engine.consent().allows(p) => false,
        Some(t) => {
            t.reload_due = true;
            true
        }
        None => true,
    });
    if taken {
        STORE.with(|s| s.adopt(p, value))
    } else {
        String::new()
    }
}

// Creates the engine over the loaded store from the init options as cairn.js
// passes them (see options.rs): `nums` in options.rs's order (NaN: default),
// `flags` its bits, `consent` a purpose bit set (negative: not given), `context`
// the static context's JSON members.
// The numbers come one by one (`n0`..`n5`).
/// # Safety
/// `block` and the strings in it as `host::args_block` and `host::text` take
/// them.
#[allow(clippy::too_many_arguments)]
#[export_name = "S"]
pub unsafe extern "C" fn start(
    block: *mut u8,
    size: usize,
    write_key: *const u8,
    write_key_len: usize,
    endpoint: *const u8,
    endpoint_len: usize,
    hash_key: *const u8,
    hash_key_len: usize,
    context: *const u8,
    context_len: usize,
    n0: f64,
    n1: f64,
    n2: f64,
    n3: f64,
    n4: f64,
    n5: f64,
    flags: u32,
    consent: i32,
) {
    let _block = host::args_block(block, size);
    let write_key = host::text(write_key, write_key_len);
    let endpoint = host::text(endpoint, endpoint_len);
    let hash_key = host::text(hash_key, hash_key_len);
    let context = host::text(context, context_len);
    let nums = [n0, n1, n2, n3, n4, n5];
    let keys = (write_key, endpoint, hash_key);
    let opened = open(keys, &nums, flags, consent, context);
    if let Some(t) = report(opened.map(Some)) {
        // Rule: a tracker is never dropped (start runs once per page: cairn.js's
        // init is memoised), so the wasm carries no drop code for the engine.
        T.with(|cell| std::mem::forget(cell.replace(Some(t))));
        with(|_| Ok(()))
    }
}

/// `start`'s work: the tracker over the loaded store, consent applied.
fn open(
    (write_key, endpoint, hash_key): (&str, &str, &str),
    nums: &[f64],
    flags: u32,
    consent: i32,
    context: &str,
) -> R<Tracker> {
    let cfg = options::config(write_key, endpoint, hash_key, nums, flags)?;
    let fields = options::static_fields(&cfg, context);
    let consent = (consent >= 0).then(|| options::consent(consent as u8));
    let store = STORE.with(Arc::clone);
    let engine = Engine::with_static_fields(cfg, fields, store.clone(), Arc::new(JsClock))?;
    let mut t = Tracker {
        engine,
        store,
        sending: None,
        reload_due: false,
    };
    if let Some(c) = consent {
        t.engine.set_consent(c)?;
    }
    t.after_consent();
    if t.engine.queued() > 0 {
        t.engine.flush()?; // left by an earlier page
    }
    Ok(t)
}

// The event calls share one export (`op` picks; the strings are its arguments):
// one export instead of six keeps both the wasm and js/wasm.js smaller.
//   0 track(name, properties, purpose)      1 screen(name, properties)
//   2 page(name, properties)                3 identify(userId, traits)
//   4 alias(newUserId)                      5 group(groupId, traits)
//   6 context(members): the page context (JSON object members, no braces) that
//     every later event carries in its `context` (see Engine::set_event_context)
// Returns false when the event's purpose is not consented (nothing stored).
// The typed helpers of the event table (generated into cairn.js) build their
// properties in JavaScript and call track, page or screen.
/// # Safety
/// `block` and the strings in it as `host::args_block` and `host::text` take
/// them.
#[allow(clippy::too_many_arguments)]
#[export_name = "C"]
pub unsafe extern "C" fn call(
    op: u32,
    block: *mut u8,
    size: usize,
    a: *const u8,
    a_len: usize,
    b: *const u8,
    b_len: usize,
    c: *const u8,
    c_len: usize,
) -> u32 {
    let _block = host::args_block(block, size);
    let a = host::text(a, a_len);
    let b = host::text(b, b_len);
    event_call(op, a, b, host::text(c, c_len)).into()
}

fn event_call(op: u32, a: &str, b: &str, c: &str) -> bool {
    with(|t| {
        let e = &mut t.engine;
        let tracked = match op {
            0 => e.track_json(EventKind::Track, a, b, purpose(c)?)?,
            1 => e.track_json(EventKind::Screen, a, b, Purpose::Analytics)?,
            2 => e.track_json(EventKind::Page, a, b, Purpose::Analytics)?,
            3 => e.identify_json(a, b)?,
            4 => e.alias(a)?,
            5 => e.group_json(a, b)?,
            6 => {
                e.set_event_context(a)?;
                Tracked::Queued
            }
            _ => return Err(WebError::Invalid("unknown call".into())),
        };
        Ok(queued(tracked))
    })
}

fn reset(t: &mut Tracker) -> R<f64> {
    t.engine.reset()?;
    Ok(0.0)
}

// Sets the purposes granted, a bit set (bit `Purpose::index`).
fn set_consent(t: &mut Tracker, bits: u8) -> R<f64> {
    t.engine.set_consent(options::consent(bits))?;
    t.after_consent();
    t.settle("");
    Ok(0.0)
}

/// A flush() rejects at once rather than wait out a longer backoff (up to an hour
/// after a Retry-After), as the native Client's does beyond its request timeout.
const FLUSH_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

// Uploads what is queued now. Returns the seq the flush must deliver, -1 when
// nothing is pending, or -2 - s while backing off for s > 30 more seconds.
fn flush(t: &mut Tracker) -> R<f64> {
    t.engine.flush()?;
    let wait = t.engine.retry_in().filter(|d| *d > FLUSH_WAIT_MAX);
    let s = match (t.engine.oldest_pending_seq(), t.engine.last_seq(), wait) {
        (Some(_), _, Some(d)) => -2.0 - d.as_secs() as f64,
        (Some(_), Some(last), _) => last as f64,
        _ => -1.0,
    };
    Ok(s)
}

// The page is being unloaded: make everything durable and send what is queued
// with sendBeacon (unless the collector was unreachable or asked to back off:
// a beacon's answer is never seen, so then the queue stays for the next page).
// An upload still in flight is abandoned (its events go in the beacon too): its
// answer would come after the page is gone, and the events tracked since (the
// page's last engaged time) would otherwise wait for the next page.
fn hide(t: &mut Tracker) -> R<f64> {
    t.engine.on_background()?;
    if !t.down() && t.engine.retry_in().is_none() {
        if let Some(id) = t.sending.take() {
            t.engine.abandon_upload(id);
        }
        while let Next::Upload(u) = t.engine.next_upload()? {
            let body = std::str::from_utf8(&u.body).unwrap_or_default();
            let ok = beacon(&u.url, body);
            let outcome = if ok {
                Outcome::status(200)
            } else {
                Outcome::Transport("sendBeacon refused the batch".into())
            };
            t.engine.upload_finished(u.id, outcome)?;
            if !ok {
                break;
            }
        }
    }
    t.engine.sync()?;
    t.settle("");
    Ok(0.0)
}

// The host's answer to `send` (ctl 6): HTTP status (0: no answer) and Retry-After
// in seconds (negative: none; the host parses both header forms).
fn done(t: &mut Tracker, id: f64, status: f64, retry_after: f64) -> R<f64> {
    let id = id as u64;
    let status = status as u16;
    if t.sending == Some(id) {
        t.sending = None;
    }
    let outcome = if status == 0 {
        Outcome::Transport("network error".into())
    } else {
        Outcome::Status {
            code: status,
            retry_after: (retry_after >= 0.0)
                .then(|| std::time::Duration::from_millis((retry_after * 1000.0) as u64)),
        }
    };
    let code_text;
    let failed: &str = match &outcome {
        Outcome::Transport(_) => "upload failed: the collector did not answer",
        // A refused key (401/403) keeps the events (the core pauses): said too.
        Outcome::Status { code, .. } if *code >= 500 || matches!(*code, 401 | 403 | 408 | 429) => {
            code_text = ["upload failed: HTTP ", &digits((*code).into())].concat();
            &code_text
        }
        _ => "",
    };
    t.set_down(matches!(outcome, Outcome::Transport(_)))?;
    t.engine.upload_finished(id, outcome)?;
    t.engine.sync()?;
    t.settle(failed);
    Ok(0.0)
}

// The calls with numbers only share one export too (`op` picks; a, b, c are
// NaN where JavaScript passes nothing):
//   0 pump (timer callback)   1 hide   2 reset   3 flush   4 queued
//   5 consent: the purposes granted as a bit set (bit `Purpose::index`)
//   6 done(a: upload id, b: HTTP status, c: Retry-After), the answer to `send`
//   8 + bits: setConsent(bits), bits < 8 (the consent itself is the argument)
#[export_name = "T"]
pub extern "C" fn ctl(op: u32, a: f64, b: f64, c: f64) -> f64 {
    with(|t| match op {
        0 => Ok(0.0),
        1 => hide(t),
        2 => reset(t),
        3 => flush(t),
        // Events waiting, including the upload in flight.
        4 => Ok(t.engine.queued() as f64),
        5 => Ok(options::bits(t.engine.consent()).into()),
        6 => done(t, a, b, c),
        8..=15 => set_consent(t, (op - 8) as u8),
        _ => Err(WebError::Invalid("unknown ctl".into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_display() {
        use cairn::Error as E;
        let all = [
            WebError::Invalid("init: writeKey is required".into()),
            WebError::NotInitialised,
            E::EventTooLarge {
                size: 40_001,
                max: 32_768,
            }
            .into(),
            E::EmptyName.into(),
            E::NotAnObject.into(),
            E::Config("x".into()).into(),
            E::Store("s".into()).into(),
            E::Corrupt("c".into()).into(),
            E::Upload("u".into()).into(),
        ];
        for e in all {
            assert_eq!(e.message(), e.to_string());
        }
        assert_eq!(digits(0), "0");
        assert_eq!(digits(u64::MAX), u64::MAX.to_string());
    }
}
