//! Shared pieces of the end-to-end tests (tests/e2e): the SDK's native `Client` on a
//! real `SledStore`, pointed at the real collector binary (see `cairn-testkit`), plus
//! a reserved-but-dead port, a byte scan of a data dir, and the two HMACs of the
//! identity path. The `cairn-sdk-child` binary (src/bin) is the SDK in a process of
//! its own, so a test can SIGKILL it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn::{Client, Config, SledStore};
use ring::hmac;
use serde_json::Value;
use socket2::{Domain, Socket, Type};

pub use cairn_testkit::{
    collector_bin, temp_dir, CollectorProcess, HASH_SECRET, READ_KEY, WRITE_KEY,
};

/// The SDK's identifier-hashing key in these tests (the "app's hash key").
pub const DEVICE_HASH_KEY: &str = "e2e-device-hash-key";

/// A loopback port nobody listens on, held until dropped.
///
/// The socket is bound but never `listen()`ed, so a connection to it is refused at
/// once (RST), exactly as with no process at all, and no other socket (a collector
/// another test starts on port 0, say) can take the port while this is held.
pub struct DeadPort {
    socket: Option<Socket>,
    pub addr: SocketAddr,
}

impl DeadPort {
    pub fn reserve() -> Self {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .expect("local addr")
            .as_socket()
            .expect("inet addr");
        DeadPort {
            socket: Some(socket),
            addr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Frees the port (for a collector to listen on it next).
    pub fn release(mut self) -> SocketAddr {
        drop(self.socket.take());
        self.addr
    }
}

/// A tokio runtime for a test's `Client` (the test itself stays synchronous, because
/// the testkit's blocking HTTP client must not run inside a runtime).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The configuration an app would use, pointed at `endpoint` with the test write key.
pub fn config(endpoint: &str) -> Config {
    let mut config = Config::new(WRITE_KEY, endpoint);
    config.hash_key = DEVICE_HASH_KEY.into();
    config
}

/// A native `Client` on a `SledStore` in `dir`, its upload loop on `rt`.
pub fn client(rt: &tokio::runtime::Runtime, config: Config, dir: &Path) -> Client {
    let store = SledStore::open(dir).expect("open SledStore");
    let _guard = rt.enter();
    Client::new(config, Arc::new(store)).expect("start Client")
}

/// Calls `flush()` until one succeeds (each call ends at the next upload attempt:
/// Ok once everything tracked is delivered, Err when that attempt failed).
/// Returns how many attempts failed first.
pub fn flush_until_delivered(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    timeout: Duration,
) -> usize {
    let deadline = std::time::Instant::now() + timeout;
    let mut failed = 0;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rt.block_on(async { tokio::time::timeout(left, client.flush()).await }) {
            Ok(Ok(())) => return failed,
            Ok(Err(_)) if std::time::Instant::now() < deadline => failed += 1,
            Ok(Err(e)) => panic!("not delivered within {timeout:?}: {e}"),
            Err(_) => panic!("not delivered within {timeout:?} ({failed} failed attempts)"),
        }
    }
}

/// The feed's event records, as values (`record["value"]`).
pub fn feed_events(collector: &CollectorProcess) -> Vec<Value> {
    collector
        .feed(0)
        .into_iter()
        .filter(|r| r["kind"] == "event")
        .map(|r| r["value"].clone())
        .collect()
}

/// Asserts that the feed events tagged `run` carry `n` = 0..count, each exactly once,
/// with distinct messageIds.
pub fn assert_exactly_once(events: &[Value], run: &str, count: u64) {
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["properties"]["run"] == run)
        .collect();
    let mut ns: Vec<u64> = mine
        .iter()
        .map(|e| e["properties"]["n"].as_u64().expect("numeric n"))
        .collect();
    ns.sort_unstable();
    let mut dupes = ns.clone();
    dupes.dedup();
    let missing: Vec<u64> = (0..count)
        .filter(|n| ns.binary_search(n).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "run {run}: {} of {count} events missing from the feed: {missing:?}",
        missing.len()
    );
    assert_eq!(
        ns.len(),
        dupes.len(),
        "run {run}: events in the feed more than once (n values: {ns:?})"
    );
    assert_eq!(ns, (0..count).collect::<Vec<_>>(), "run {run}: n values");
    let mut ids: Vec<&str> = mine
        .iter()
        .map(|e| e["messageId"].as_str().expect("messageId"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, count, "run {run}: distinct messageIds");
}

/// A run tag unique to this test process and `name`, to find a test's events.
pub fn run_tag(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Files under `dir` whose bytes contain `needle` (recursively).
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .expect("read file")
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(path);
            }
        }
    }
    hits
}

/// HMAC-SHA256 of `value` under `key`, lower-case hex (what the SDK and the
/// collector both produce).
pub fn hmac_hex(key: &str, value: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    hmac::sign(&key, value.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A workspace binary next to the collector (`target/<profile>/<name>`), built by
/// `cargo build --workspace --bins` (scripts/test.sh).
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = collector_bin().with_file_name(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}
