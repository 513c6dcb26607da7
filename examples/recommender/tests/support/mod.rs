//! The real binaries as the tests meet them: a collector (cairn-testkit) and this
//! service as child processes on loopback port 0, helpers to post events, read the
//! service's API and wait, by polling with a deadline, for what a test expects.
#![allow(dead_code, unused_imports)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

pub use cairn_testkit::{CollectorProcess, ADMIN_KEY, HASH_SECRET, PROJECT_HASH_KEY, READ_KEY};
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

/// A running `cairn-recommender`.
pub struct Reco {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    collector: String,
    extra: Vec<String>,
}

impl Reco {
    pub fn start(data_dir: &Path, collector_url: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn-recommender"))
            .args(["--listen", "127.0.0.1:0", "--collector", collector_url])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--read-key", READ_KEY, "--hash-secret", HASH_SECRET])
            .args(["--project-hash-key", PROJECT_HASH_KEY])
            .args(["--max-backoff-ms", "500"])
            .args(extra)
            .env(
                "CAIRN_LOG",
                std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn cairn-recommender");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("cairn-recommender listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(DEADLINE)
            .expect("recommender printed its address");
        Self {
            child,
            url,
            data_dir: data_dir.to_owned(),
            collector: collector_url.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL, then a new process on the same data dir.
    pub fn restart(&mut self) {
        self.kill9();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        *self = Self::start(&self.data_dir.clone(), &self.collector.clone(), &extra);
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait")
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

impl Drop for Reco {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
