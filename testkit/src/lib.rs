//! The real collector as tests meet it: a child process on a loopback port, with fixed
//! keys, a data dir of the test's own, and helpers to post batches and read the feed;
//! the recommender and the tansu broker likewise (their own modules). Shared by the
//! collector's own tests and the end-to-end tests across crates.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use cairn_protocol::identity::ProjectHasher;
use serde_json::Value;

/// The tansu Kafka broker as a child process (no Kafka client: testkit stays free of
/// librdkafka).
pub mod tansu;
pub use tansu::{TansuBroker, TansuConfig};

/// The recommender service as a child process, for its own tests and the end-to-end
/// shop loop.
pub mod recommender;
pub use recommender::RecommenderProcess;

/// A client write key (as in a web page or an app): its aliases cannot link user ids.
pub const WRITE_KEY: &str = "test-write-key";
/// The feed's `source` of `WRITE_KEY`'s events.
pub const WRITE_KEY_SOURCE: &str = "test-client";
/// A server write key (as a backend's Segment library uses).
pub const SERVER_WRITE_KEY: &str = "test-server-key";
/// The feed's `source` of `SERVER_WRITE_KEY`'s events.
pub const SERVER_WRITE_KEY_SOURCE: &str = "test-server";
pub const READ_KEY: &str = "test-read-key";
pub const ADMIN_KEY: &str = "test-admin-key";
pub const HASH_SECRET: &str = "test-hash-secret";
/// The project hash key of both write keys, unless a test passes its own
/// `--project-hash-key`: SDKs under test hash identifiers with it on the device.
pub const PROJECT_HASH_KEY: &str = "test-project-hash-key";

/// The device hash of a raw user id under `PROJECT_HASH_KEY` (what an SDK sends, listed
/// in `context.hashed`).
pub fn device_user_id(raw: &str) -> String {
    ProjectHasher::new(PROJECT_HASH_KEY.as_bytes()).user_id(raw)
}

/// The pseudonym the collector stores for a device hash: HMAC-SHA256 under
/// `HASH_SECRET`, as lower-case hex.
pub fn pseudonym(device_hash: &str) -> String {
    cairn_protocol::identity::pseudonym(HASH_SECRET.as_bytes(), device_hash)
}

/// The stored userId of a raw user id, whichever path it came by.
pub fn stored_user_id(raw: &str) -> String {
    pseudonym(&device_user_id(raw))
}

/// How long a collector or recommender may take to print its address before a test
/// gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `cairn-collector` child process.
pub struct CollectorProcess {
    child: ServiceChild,
    pub addr: SocketAddr,
    pub url: String,
    pub data_dir: PathBuf,
    bin: PathBuf,
    extra_args: Vec<String>,
    /// Removed when the process is dropped, after the collector is killed (`child` is
    /// the first field, so it drops first).
    owned_dir: Option<TempDir>,
}

/// The collector binary next to the running test executable (`target/<profile>/`).
/// Collector tests pass `env!("CARGO_BIN_EXE_cairn-collector")` instead.
pub fn collector_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("cairn-collector");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p cairn-collector` first",
        bin.display()
    );
    bin
}

impl CollectorProcess {
    /// Starts a collector on a free loopback port.
    pub fn start(
        bin: impl Into<PathBuf>,
        data_dir: impl Into<DataDir>,
        extra_args: &[&str],
    ) -> Self {
        Self::start_at(bin.into(), data_dir.into(), "127.0.0.1:0", extra_args)
    }

    /// Starts a collector listening on `listen` (e.g. a port a test reserved earlier and
    /// already pointed a client at).
    pub fn start_on(
        bin: impl Into<PathBuf>,
        data_dir: impl Into<DataDir>,
        listen: SocketAddr,
        extra_args: &[&str],
    ) -> Self {
        Self::start_at(bin.into(), data_dir.into(), &listen.to_string(), extra_args)
    }

    fn start_at(bin: PathBuf, data_dir: DataDir, listen: &str, extra_args: &[&str]) -> Self {
        let (data_dir, owned_dir) = match data_dir {
            DataDir::Path(path) => (path, None),
            DataDir::Owned(dir) => (dir.path().to_path_buf(), Some(dir)),
        };
        let client = format!("{WRITE_KEY}:source={WRITE_KEY_SOURCE}");
        let server = format!("{SERVER_WRITE_KEY}:source={SERVER_WRITE_KEY_SOURCE}:server");
        let mut command = Command::new(&bin);
        command
            .args(["--listen", listen])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--write-key", &client, "--write-key", &server])
            .args(["--read-key", READ_KEY])
            .args(["--admin-key", ADMIN_KEY, "--hash-secret", HASH_SECRET]);
        if !extra_args.contains(&"--project-hash-key") {
            command.args(["--project-hash-key", PROJECT_HASH_KEY]);
        }
        command.args(extra_args).env("CAIRN_LOG", "warn");
        let (child, url, addr) = ServiceChild::spawn(&mut command, "cairn-collector listening on ");
        Self {
            child,
            addr,
            url,
            data_dir,
            bin,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            owned_dir,
        }
    }

    /// Starts a new process on the same data dir and the same port.
    pub fn restart(&mut self) {
        self.kill9();
        let args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let listen = self.addr.to_string();
        let owned_dir = self.owned_dir.take();
        let data_dir = DataDir::Path(self.data_dir.clone());
        let mut next = Self::start_at(self.bin.clone(), data_dir, &listen, &args);
        next.owned_dir = owned_dir;
        *self = next;
    }

    pub fn client(&self) -> reqwest::blocking::Client {
        http_client().build().expect("http client")
    }

    /// Posts JSON to `path` with the test (client) write key; returns status and JSON
    /// body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_with(WRITE_KEY, path, body)
    }

    /// Posts JSON to `path` with `write_key`; returns status and JSON body.
    pub fn post_with(&self, write_key: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client()
            .post(format!("{}{path}", self.url))
            .basic_auth(write_key, Some(""))
            .json(body)
            .send()
            .expect("post to collector");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Every feed record after `after`, following cursors until the feed is exhausted.
    pub fn feed(&self, after: u64) -> Vec<Value> {
        let client = self.client();
        let mut records = Vec::new();
        let mut cursor = after;
        loop {
            let text = client
                .get(format!("{}/v1/feed?after={cursor}&limit=10000", self.url))
                .bearer_auth(READ_KEY)
                .send()
                .and_then(|r| r.error_for_status())
                .and_then(|r| r.text())
                .expect("read feed");
            let page: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("feed line is JSON"))
                .collect();
            let Some(last) = page.last() else { break };
            cursor = last["cursor"].as_u64().expect("cursor");
            records.extend(page);
        }
        records
    }

    /// Waits (long-polling the feed) until at least `count` event records are in it.
    pub fn wait_for_events(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let records = self.feed(0);
            let last = records
                .last()
                .and_then(|r| r["cursor"].as_u64())
                .unwrap_or(0);
            let events: Vec<Value> = records
                .into_iter()
                .filter(|r| r["kind"] == "event")
                .collect();
            let now = std::time::Instant::now();
            if events.len() >= count || now >= deadline {
                return events;
            }
            let wait = (deadline - now).as_secs().clamp(1, 5);
            let _ = self
                .client()
                .get(format!("{}/v1/feed?after={last}&wait={wait}", self.url))
                .bearer_auth(READ_KEY)
                .send();
        }
    }
}

/// A service under test as a child process (the collector, the recommender): its
/// stderr goes to the test's, its stdout is read to the end (so it never blocks on a
/// full pipe) for the one line that says where it listens; killed and reaped when
/// dropped. The process types deref to it for `pid`, `kill9` and `terminate`.
pub struct ServiceChild(Child);

impl ServiceChild {
    /// Spawns `command` and waits for its stdout line starting with `start_line`
    /// (followed by `http://<addr>`); returns the process, that URL and the address. A
    /// process that exits first, or stays silent for [`START_TIMEOUT`], fails the test.
    pub(crate) fn spawn(
        command: &mut Command,
        start_line: &'static str,
    ) -> (Self, String, SocketAddr) {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix(start_line) {
                        let _ = tx.send(url.to_owned());
                        sent = true;
                    }
                }
            }
        });
        let mut process = Self(child);
        let url = match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => url,
            // Stdout closed without the line: the process stopped (its stderr says why).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = process.0.wait().expect("wait for the process");
                panic!("{program} exited ({status}) before saying where it listens");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{program} did not report its address in {START_TIMEOUT:?}")
            }
        };
        let addr = url
            .trim_start_matches("http://")
            .parse()
            .expect("address in the start line");
        (process, url, addr)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.0.wait().expect("wait for the process")
    }
}

/// A process type's `pid`, `kill9` and `terminate` are its `child`'s.
macro_rules! derefs_to_child {
    ($($t:ty),*) => {$(
        impl std::ops::Deref for $t {
            type Target = ServiceChild;
            fn deref(&self) -> &ServiceChild {
                &self.child
            }
        }
        impl std::ops::DerefMut for $t {
            fn deref_mut(&mut self) -> &mut ServiceChild {
                &mut self.child
            }
        }
    )*};
}
derefs_to_child!(CollectorProcess, RecommenderProcess);

impl Drop for ServiceChild {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Makes ring rustls' process-wide crypto provider. The workspace builds reqwest with
/// `rustls-no-provider` (the SDK's HTTPS feature, which brings ring, never aws-lc), and
/// a reqwest client refuses to start without a provider, even for plain HTTP.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A blocking HTTP client builder for tests, with the TLS provider installed.
pub fn http_client() -> reqwest::blocking::ClientBuilder {
    install_tls_provider();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30))
}

/// Files under `dir` (recursively) whose bytes contain `needle`: the byte scan that
/// shows a data dir holds, or no longer holds, something. A file or directory that
/// vanishes during the scan (a snapshot renamed over) holds nothing; any other read
/// error fails the test.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Err(e) if gone(&e) => continue,
            entries => entries.unwrap_or_else(|e| panic!("read {}: {e}", d.display())),
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            match std::fs::read(&path) {
                Err(e) if gone(&e) => {}
                Err(e) => panic!("read {}: {e}", path.display()),
                Ok(bytes) if bytes.windows(needle.len()).any(|w| w == needle) => hits.push(path),
                Ok(_) => {}
            }
        }
    }
    hits
}

/// A fresh directory under the system temp dir (removed first if left over), as a
/// [`TempDir`] guard.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("cairn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// A test's directory: removed when dropped, except while the thread panics, so a
/// passing test leaves nothing behind and a failing one leaves its files to inspect
/// (its path is printed).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Where a collector keeps its data: a path the caller owns, or a [`TempDir`] the
/// process owns and removes after the collector has stopped.
pub enum DataDir {
    Path(PathBuf),
    Owned(TempDir),
}

impl From<TempDir> for DataDir {
    fn from(dir: TempDir) -> Self {
        DataDir::Owned(dir)
    }
}

impl From<&TempDir> for DataDir {
    fn from(dir: &TempDir) -> Self {
        DataDir::Path(dir.to_path_buf())
    }
}

impl From<PathBuf> for DataDir {
    fn from(dir: PathBuf) -> Self {
        DataDir::Path(dir)
    }
}

impl From<&PathBuf> for DataDir {
    fn from(dir: &PathBuf) -> Self {
        DataDir::Path(dir.clone())
    }
}

impl From<&Path> for DataDir {
    fn from(dir: &Path) -> Self {
        DataDir::Path(dir.to_path_buf())
    }
}
