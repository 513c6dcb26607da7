//! Shared pieces of the end-to-end tests (tests/e2e): the SDK's native `Client` on a
//! real `SledStore`, pointed at the real collector binary (see `cairn-testkit`), plus
//! a reserved-but-dead port, a byte scan of a data dir, and the two HMACs of the
//! identity path. The `cairn-sdk-child` binary (src/bin) is the SDK in a process of
//! its own, so a test can SIGKILL it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn::{Client, ClientOptions, Config, ConsentMode, Engine, SledStore, SystemClock};
use ring::hmac;
use serde_json::Value;
use socket2::{Domain, Socket, Type};

pub use cairn_testkit::{
    collector_bin, files_containing, stored_user_id, temp_dir, CollectorProcess, HASH_SECRET,
    PROJECT_HASH_KEY, READ_KEY, WRITE_KEY,
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

/// The configuration an app would use, pointed at `endpoint` with the test write key,
/// in opt-out mode: every purpose granted without a choice, so no consent record
/// (`consent_changed`) is queued and the delivery tests see only their own events.
/// The consent tests use [`opt_in_config`].
pub fn config(endpoint: &str) -> Config {
    let mut config = opt_in_config(endpoint);
    config.consent_mode = ConsentMode::OptOut;
    config
}

/// `config` with the default opt-in consent: nothing is collected before a choice.
pub fn opt_in_config(endpoint: &str) -> Config {
    let mut config = Config::new(WRITE_KEY, endpoint);
    config.hash_key = DEVICE_HASH_KEY.into();
    config
}

/// A native `Client` on a `SledStore` in `dir`, its upload loop on `rt`.
pub fn client(rt: &tokio::runtime::Runtime, config: Config, dir: &Path) -> Client {
    client_with(rt, config, dir, ClientOptions::default())
}

/// `client` with driver options (e.g. a short request timeout).
pub fn client_with(
    rt: &tokio::runtime::Runtime,
    config: Config,
    dir: &Path,
    options: ClientOptions,
) -> Client {
    let store = SledStore::open(dir).expect("open SledStore");
    let engine = Engine::new(config, Arc::new(store), Arc::new(SystemClock)).expect("engine");
    let _guard = rt.enter();
    Client::start(engine, options).expect("start Client")
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

/// A loopback TCP proxy in front of the collector that can lose responses: the
/// network fault where the collector has stored a batch but its answer never reaches
/// the SDK (the connection is cut once the collector has answered).
pub struct LossyProxy {
    pub url: String,
    lose: Arc<AtomicUsize>,
    lost: Arc<AtomicUsize>,
}

impl LossyProxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let lose = Arc::new(AtomicUsize::new(0));
        let lost = Arc::new(AtomicUsize::new(0));
        let (l, d) = (lose.clone(), lost.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let (l, d) = (l.clone(), d.clone());
                std::thread::spawn(move || proxy_connection(client, upstream, &l, &d));
            }
        });
        LossyProxy { url, lose, lost }
    }

    /// The next `n` responses are not relayed: their connections are cut instead.
    pub fn lose_responses(&self, n: usize) {
        self.lose.store(n, Ordering::SeqCst);
    }

    /// Responses lost so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

fn proxy_connection(
    client: TcpStream,
    upstream: SocketAddr,
    lose: &AtomicUsize,
    lost: &AtomicUsize,
) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (mut c_read, mut s_write) = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(s)) => (c, s),
        _ => return,
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut client, mut server) = (client, server);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let take =
                    lose.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1));
                if take.is_ok() {
                    lost.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// The browser tests' tools: the demo shop's directory (with the web tracker that
/// wasm/build.sh put in its pkg/) and playwright-core's module, checked to exist.
pub fn browser_tools() -> (PathBuf, PathBuf) {
    let root = workspace_root();
    let shop = root.join("examples/web");
    let playwright = root.join("wasm/tests/browser/node_modules/playwright-core/index.mjs");
    assert!(
        shop.join("pkg/cairn.js").exists(),
        "examples/web/pkg is missing: run `bash wasm/build.sh`"
    );
    assert!(
        playwright.exists(),
        "playwright-core is missing: run scripts/install-test-deps.sh"
    );
    (shop, playwright)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The project hash key the demo shop hashes identifiers with (what run.sh configures).
pub const DEMO_HASH_KEY: &str = "demo-hash-key";

/// A collector serving the demo shop at /demo/, with the shop's project hash key.
pub fn demo_collector(dir: &Path) -> CollectorProcess {
    let (shop, _) = browser_tools();
    let shop = shop.to_str().expect("UTF-8 path");
    CollectorProcess::start(
        collector_bin(),
        dir,
        &["--demo-dir", shop, "--project-hash-key", DEMO_HASH_KEY],
    )
}

/// Runs `tests/web/<script>` under node with playwright-core's module first, then
/// `args`; fails the test on a non-zero exit and returns its `KEY json` lines.
pub fn run_browser_script(
    script: &str,
    args: &[&str],
) -> std::collections::BTreeMap<String, Value> {
    let (_, playwright) = browser_tools();
    let out = std::process::Command::new("node")
        .arg(workspace_root().join("tests/web").join(script))
        .arg(format!("file://{}", playwright.display()))
        .args(args)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::from_str(v).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The feed's events of one anonymous visitor, once `done` says they are all there
/// (polled, at most 15 s).
pub fn visitor_events(
    collector: &CollectorProcess,
    anon: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mine: Vec<Value> = feed_events(collector)
            .into_iter()
            .filter(|e| e["anonymousId"] == anon)
            .collect();
        if done(&mine) || std::time::Instant::now() > deadline {
            return mine;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
