//! The real binaries as the tests meet them: a collector (cairn-testkit) and this
//! service as child processes on loopback port 0, helpers to post events, read the
//! service's API and wait, by polling with a deadline, for what a test expects.
#![allow(dead_code, unused_imports)]

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

pub use cairn_testkit::{
    CollectorProcess, RecommenderProcess, ADMIN_KEY, HASH_SECRET, PROJECT_HASH_KEY, READ_KEY,
};
use serde_json::{json, Value};

pub const API_KEY: &str = "test-api-key";
/// How long a test waits for something that should take milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn ids() -> cairn_recommender::ids::Ids {
    cairn_recommender::ids::Ids::new(HASH_SECRET, PROJECT_HASH_KEY)
}

/// A collector with the testkit's keys (its project hash key included).
pub fn collector(dir: &Path) -> CollectorProcess {
    CollectorProcess::start(cairn_testkit::collector_bin(), dir, &[])
}

/// A running `cairn-recommender` (cairn-testkit's [`RecommenderProcess`]: `url`, `pid`,
/// `kill9`, `terminate`, `restart` on the same data dir) with this crate's API helpers.
pub struct Reco {
    process: RecommenderProcess,
    pub data_dir: PathBuf,
}

impl std::ops::Deref for Reco {
    type Target = RecommenderProcess;
    fn deref(&self) -> &RecommenderProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Reco {
    fn deref_mut(&mut self) -> &mut RecommenderProcess {
        &mut self.process
    }
}

impl Reco {
    pub fn start(data_dir: &Path, collector_url: &str, extra: &[&str]) -> Self {
        Self {
            process: RecommenderProcess::follow(
                env!("CARGO_BIN_EXE_cairn-recommender"),
                collector_url,
                data_dir,
                extra,
            ),
            data_dir: data_dir.to_owned(),
        }
    }

    /// GET `path`: status and JSON body (Null when not JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = cairn_testkit::http_client()
            .build()
            .unwrap()
            .get(format!("{}{path}", self.url))
            .bearer_auth(API_KEY)
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn cursor(&self) -> u64 {
        self.ok("/api/v1/stats")["cursor"].as_u64().unwrap()
    }

    /// Waits until the service has applied the feed up to `cursor`.
    pub fn wait_cursor(&self, cursor: u64) {
        wait_for(&format!("cursor {cursor}"), || {
            (self.get("/api/v1/stats").1["cursor"].as_u64() >= Some(cursor)).then_some(())
        });
    }

    /// Waits until the service has applied everything the collector's feed holds now.
    pub fn catch_up(&self, collector: &CollectorProcess) {
        let head = collector
            .feed(0)
            .last()
            .and_then(|r| r["cursor"].as_u64())
            .unwrap_or(0);
        self.wait_cursor(head);
    }

    pub fn recs(&self, query: &str) -> Value {
        self.ok(&format!("/api/recommendations?{query}"))
    }
}

/// Polls `f` until it gives a value; panics with `what` after [`DEADLINE`].
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A track event with consent for analytics and (when `personal`) personalization.
pub fn track(
    user: Option<&str>,
    anon: &str,
    event: &str,
    properties: Value,
    personal: bool,
) -> Value {
    let mut e = json!({
        "type": "track", "event": event, "anonymousId": anon, "properties": properties,
        "context": {"consent": {"analytics": true, "personalization": personal, "marketing": false},
                    "purpose": "analytics", "sessionId": format!("session-{anon}"),
                    "device": {"type": "mobile"}, "os": {"name": "Android"}},
    });
    if let Some(u) = user {
        e["userId"] = json!(u);
    }
    e
}

pub fn product(id: &str, category: &str, price: f64) -> Value {
    json!({"product_id": id, "category": category, "price": price, "name": format!("Product {id}")})
}

/// Posts a batch; asserts the collector acknowledged every event.
pub fn post(collector: &CollectorProcess, events: Vec<Value>) {
    let n = events.len();
    let (status, body) = collector.post("/v1/batch", &json!({ "batch": events }));
    assert_eq!(status, 200, "batch of {n} refused: {body}");
}

/// The files under `dir` that contain `needle`.
pub fn holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    cairn_testkit::files_containing(dir, needle.as_bytes())
}
