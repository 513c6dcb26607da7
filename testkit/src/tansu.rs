//! The tansu broker (an Apache Kafka compatible broker in Rust) as tests meet it: a
//! child process on a free loopback port, started and waited for, stopped by signals,
//! killed when dropped. The collector's Kafka tests and the recommender's share it.
//!
//! No Kafka client here: reading a topic back (rdkafka) stays with the tests that need
//! it, so depending on testkit does not build librdkafka.
//!
//! Rules: a missing tansu binary fails the test with the install command, never skips
//! it; "ready" is the broker accepting a TCP connection on its port.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How to install the broker where [`tansu_bin`] looks for it.
pub const TANSU_INSTALL: &str = "cargo install tansu --version 0.6.0 --locked \
     --features dynostore,postgres --root $HOME/.cache/cairn/tansu \
     (or bash scripts/install-test-deps.sh)";

/// How long a broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A collector's arguments to forward to `broker`'s `topic`, with its reconnect to
/// the broker quick (a restarted broker is found again within half a second).
pub fn collector_kafka_args<'a>(broker: &'a str, topic: &'a str) -> Vec<&'a str> {
    vec![
        "--kafka-brokers",
        broker,
        "--kafka-topic",
        topic,
        "--kafka-option",
        "reconnect.backoff.ms=50",
        "--kafka-option",
        "reconnect.backoff.max.ms=500",
    ]
}

/// The tansu binary: `$CAIRN_TANSU`, else where scripts/install-test-deps.sh caches it.
pub fn tansu_bin() -> PathBuf {
    let bin = std::env::var_os("CAIRN_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/cairn/tansu/bin/tansu")
        });
    assert!(
        bin.exists(),
        "the Kafka tests need the tansu broker at {}: install it with `{TANSU_INSTALL}`",
        bin.display()
    );
    bin
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Polls `ready` until it holds or `timeout` passes; false on timeout.
pub fn poll_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    ready()
}

/// How a broker is started.
#[derive(Debug, Clone)]
pub struct TansuConfig {
    /// The loopback port it listens on.
    pub port: u16,
    /// `--storage-engine`: `memory://tansu/` (forgets everything when the process
    /// ends) or `postgres://USER@HOST:PORT/DB` (keeps topics, records and offsets).
    pub storage_engine: String,
    /// The address clients are told to connect to (`host:port`), when it is not the
    /// listener itself (e.g. a TLS-terminating proxy in front).
    pub advertised: Option<String>,
    /// Where the broker's stderr goes (`RUST_LOG=warn`); discarded when `None`.
    pub log: Option<PathBuf>,
}

impl Default for TansuConfig {
    fn default() -> Self {
        Self {
            port: free_port(),
            storage_engine: "memory://tansu/".into(),
            advertised: None,
            log: None,
        }
    }
}

/// A running tansu broker.
pub struct TansuBroker {
    child: Option<Child>,
    config: TansuConfig,
    pub port: u16,
}

impl TansuBroker {
    /// A broker with the memory engine on a free port.
    pub fn start() -> Self {
        Self::start_with(TansuConfig::default())
    }

    /// A broker with the memory engine on `port`.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(TansuConfig {
            port,
            ..TansuConfig::default()
        })
    }

    pub fn start_with(config: TansuConfig) -> Self {
        let mut broker = Self {
            child: None,
            port: config.port,
            config,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = self
            .config
            .advertised
            .as_ref()
            .map_or_else(|| listener.clone(), |a| format!("tcp://{a}"));
        let stderr = match &self.config.log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display())),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &listener])
            .args(["--advertised-listener-url", &advertised])
            .args(["--storage-engine", &self.config.storage_engine])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn tansu broker");
        self.child = Some(child);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        assert!(
            poll_until(START_TIMEOUT, || TcpStream::connect(addr).is_ok()),
            "tansu did not listen on {} within {START_TIMEOUT:?}",
            self.port
        );
    }

    /// `127.0.0.1:<port>`, the listener (not the advertised address).
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker running").id()
    }

    /// `tansu topic create NAME --partitions N` against this broker.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu_bin())
            .args(["topic", "create", name, "--partitions"])
            .arg(partitions.to_string())
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// SIGSTOP: the broker stops answering, its connections stay open.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after `freeze`.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL: the broker ends without a chance to flush anything; its port refuses
    /// connections until [`TansuBroker::restart`].
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage (after `kill9`, or kills
    /// the running one first).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process only dies once continued.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
