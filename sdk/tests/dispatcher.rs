//! The dispatcher driver: calls hand work to one thread and return; uploads go
//! through the platform's `Uploader`. The uploader here is a scripted stand-in for a
//! platform HTTP stack (named as such): it records each request and answers with the
//! next scripted outcome, optionally holding a request until the test releases it.

use cairn::{
    Config, Consent, ConsentMode, Dispatcher, DispatcherOptions, Engine, Error, EventKey,
    MemoryStore, Outcome, Purpose, Store, SystemClock, Tracked, Upload, Uploader,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Scripted stand-in for the platform's HTTP stack.
#[derive(Default)]
struct ScriptedUploader {
    script: Mutex<VecDeque<Outcome>>,
    seen: Mutex<Vec<Value>>,
    /// While set, each request waits for a message on this channel first.
    gate: Mutex<Option<mpsc::Receiver<()>>>,
    panics: AtomicUsize,
}

impl Uploader for ScriptedUploader {
    fn upload(&self, request: Upload) -> Outcome {
        if self.panics.load(Ordering::SeqCst) > 0 {
            self.panics.fetch_sub(1, Ordering::SeqCst);
            panic!("scripted uploader panic");
        }
        if let Some(gate) = self.gate.lock().unwrap().as_ref() {
            gate.recv().unwrap();
        }
        let mut body = Vec::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&request.body[..])
            .read_to_end(&mut body)
            .unwrap();
        self.seen
            .lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap());
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Outcome::status(200))
    }
}

impl ScriptedUploader {
    fn events(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b["batch"].as_array().unwrap().clone())
            .collect()
    }
}

/// A store that notes which threads made it durable.
#[derive(Default)]
struct ThreadNotingStore {
    inner: MemoryStore,
    sync_threads: Mutex<Vec<ThreadId>>,
}

impl Store for ThreadNotingStore {
    fn put_event(&self, key: EventKey, value: &[u8]) -> Result<(), Error> {
        self.inner.put_event(key, value)
    }
    fn get_event(&self, key: EventKey) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get_event(key)
    }
    fn remove_events(&self, keys: &[EventKey]) -> Result<(), Error> {
        self.inner.remove_events(keys)
    }
    fn clear_purpose(&self, purpose: Purpose) -> Result<(), Error> {
        self.inner.clear_purpose(purpose)
    }
    fn load_events(&self) -> Result<Vec<(EventKey, Vec<u8>)>, Error> {
        self.inner.load_events()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.inner.set(key, value)
    }
    fn sync(&self) -> Result<(), Error> {
        self.sync_threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.inner.sync()
    }
}

fn config() -> Config {
    let mut c = Config::new("wk", "http://collector.invalid");
    c.hash_key = "k".into();
    c.rng_seed = Some(3);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_cap = Duration::from_millis(50);
    // Everything granted from the start: no consent record unless a test changes it.
    c.consent_mode = ConsentMode::OptOut;
    c
}

fn start(store: Arc<dyn Store>, uploader: Arc<ScriptedUploader>) -> Dispatcher {
    start_with(config(), store, uploader)
}

fn start_with(
    config: Config,
    store: Arc<dyn Store>,
    uploader: Arc<ScriptedUploader>,
) -> Dispatcher {
    Dispatcher::start(
        move || Engine::new(config, store, Arc::new(SystemClock)),
        uploader,
        DispatcherOptions::default(),
    )
    .unwrap()
}

fn track(d: &Dispatcher, name: &'static str, n: u32) {
    d.dispatch(move |e| e.track(name, json!({ "n": n })).map(|_| ()))
        .unwrap();
}

#[test]
fn calls_return_while_an_upload_is_held_and_everything_arrives_in_order() {
    let uploader = Arc::new(ScriptedUploader::default());
    let (release, gate) = mpsc::channel();
    *uploader.gate.lock().unwrap() = Some(gate);
    let d = start(Arc::new(MemoryStore::new()), uploader.clone());
    track(&d, "first", 0);
    d.dispatch(|e| e.flush()).unwrap();
    // The first request is now held by the platform; calls still go through.
    for n in 1..=50 {
        track(&d, "later", n);
    }
    assert_eq!(
        d.call(|e| e.queued()).unwrap(),
        51,
        "one in flight, 50 queued"
    );
    release.send(()).unwrap();
    release.send(()).unwrap();
    d.flush_and_wait(WAIT).unwrap();
    let ns: Vec<u64> = uploader
        .events()
        .iter()
        .map(|m| m["properties"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..=50).collect::<Vec<_>>());
}

#[test]
fn no_sync_runs_on_the_calling_thread() {
    let store = Arc::new(ThreadNotingStore::default());
    let uploader = Arc::new(ScriptedUploader::default());
    let d = start(store.clone(), uploader);
    d.dispatch(|e| e.set_consent(Consent::only(&[Purpose::Analytics])))
        .unwrap();
    for n in 0..20 {
        track(&d, "e", n);
    }
    d.dispatch(|e| e.on_background()).unwrap();
    d.flush_and_wait(WAIT).unwrap();
    let syncs = store.sync_threads.lock().unwrap().clone();
    assert!(
        syncs.len() >= 2,
        "consent and background made the store durable"
    );
    let me = std::thread::current().id();
    assert!(
        syncs.iter().all(|t| *t != me),
        "a sync ran on the caller's thread"
    );
}

#[test]
fn a_revocation_purges_before_any_later_upload() {
    let uploader = Arc::new(ScriptedUploader::default());
    let d = start(Arc::new(MemoryStore::new()), uploader.clone());
    for n in 0..5 {
        d.dispatch(move |e| {
            let ev = cairn::Event::track("personal", json!({ "n": n }))?
                .purpose(Purpose::Personalization);
            e.track_event(ev).map(|_| ())
        })
        .unwrap();
    }
    d.dispatch(|e| e.set_consent(Consent::only(&[Purpose::Analytics])))
        .unwrap();
    let refused = d
        .call(|e| {
            let ev =
                cairn::Event::track("personal", Value::Null)?.purpose(Purpose::Personalization);
            e.track_event(ev)
        })
        .unwrap()
        .unwrap();
    assert_eq!(refused, Tracked::NoConsent(Purpose::Personalization));
    d.flush_and_wait(WAIT).unwrap();
    let names: Vec<String> = uploader
        .events()
        .iter()
        .map(|m| m["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["consent_changed"]);
}

#[test]
fn calls_before_the_engine_opens_wait_in_order() {
    let uploader = Arc::new(ScriptedUploader::default());
    let (open_now, opened) = mpsc::channel::<()>();
    let d = Dispatcher::start(
        move || {
            opened.recv().unwrap();
            Engine::new(
                config(),
                Arc::new(MemoryStore::new()),
                Arc::new(SystemClock),
            )
        },
        uploader.clone(),
        DispatcherOptions::default(),
    )
    .unwrap();
    for n in 0..10 {
        track(&d, "early", n);
    }
    open_now.send(()).unwrap();
    d.flush_and_wait(WAIT).unwrap();
    assert_eq!(uploader.events().len(), 10);
}

#[test]
fn errors_of_dispatched_calls_reach_the_listener_and_a_full_queue_refuses() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let listener_log = heard.clone();
    let (open_now, opened) = mpsc::channel::<()>();
    let d = Dispatcher::start(
        move || {
            opened.recv().unwrap();
            Engine::new(
                config(),
                Arc::new(MemoryStore::new()),
                Arc::new(SystemClock),
            )
        },
        Arc::new(ScriptedUploader::default()),
        DispatcherOptions {
            max_pending: 3,
            on_error: Some(Box::new(move |e| {
                listener_log.lock().unwrap().push(e.to_string())
            })),
        },
    )
    .unwrap();
    d.dispatch(|e| e.track("", Value::Null).map(|_| ()))
        .unwrap();
    track(&d, "ok", 1);
    track(&d, "ok", 2);
    assert!(matches!(
        d.dispatch(|e| e.track("x", Value::Null).map(|_| ())),
        Err(Error::Busy)
    ));
    open_now.send(()).unwrap();
    d.flush_and_wait(WAIT).unwrap();
    assert_eq!(
        heard.lock().unwrap().as_slice(),
        ["event name or id is empty"]
    );
    assert_eq!(d.last_error().as_deref(), Some("event name or id is empty"));
}

#[test]
fn uploader_failures_follow_the_core_rules() {
    let uploader = Arc::new(ScriptedUploader::default());
    uploader.panics.store(1, Ordering::SeqCst);
    uploader.script.lock().unwrap().extend([
        Outcome::Status {
            code: 503,
            retry_after: Some(Duration::from_millis(20)),
        },
        Outcome::status(401),
    ]);
    // The pause after a refused key (the backoff cap) outlasts the test.
    let mut cfg = config();
    cfg.backoff_cap = Duration::from_secs(60);
    let d = start_with(cfg, Arc::new(MemoryStore::new()), uploader.clone());
    track(&d, "e", 0);
    // A panic is a transport error: the flush fails, the event stays queued.
    let err = d.flush_and_wait(WAIT).unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(d.call(|e| e.queued()).unwrap(), 1);
    // Then 503 with Retry-After (retried by the core on its own schedule, so a
    // flush may see it or the next attempt), then 401: kept, paused, and said.
    let mut errors = Vec::new();
    while !errors
        .last()
        .is_some_and(|e: &String| e.contains("refused the write key"))
    {
        assert!(errors.len() < 3, "{errors:?}");
        errors.push(d.flush_and_wait(WAIT).unwrap_err().to_string());
    }
    assert_eq!(
        d.call(|e| (e.queued(), e.key_refused())).unwrap(),
        (1, Some(401))
    );
    assert_eq!(uploader.events().len(), 2, "503 and 401 each saw the event");
}

#[test]
fn stop_joins_an_idle_upload_thread_and_no_upload_starts_after_it() {
    let uploader = Arc::new(ScriptedUploader::default());
    let d = start(Arc::new(MemoryStore::new()), uploader.clone());
    track(&d, "delivered", 0);
    d.flush_and_wait(WAIT).unwrap();
    // Queued, then stopped before any upload is due (flush_at is not reached).
    track(&d, "kept", 1);
    d.stop();
    // Both threads have ended: the upload thread's reference to the uploader is gone,
    // so a foreign uploader is released on the thread that called stop.
    assert_eq!(Arc::strong_count(&uploader), 1);
    assert_eq!(uploader.events().len(), 1, "nothing uploaded after stop");
    let err = d.dispatch(|_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::Stopped(_)), "{err}");
}
