//! The documented nginx front (collector/deploy/nginx-cairn.conf, as it is, with only
//! the two server addresses and the listen line replaced) run for real: Debian's nginx
//! in front of two collectors with their own data dirs, both producing to one tansu
//! topic.
//!
//! `several_collectors_one_topic_consumer_dedup_is_exactly_once`: HTTP clients post
//! Segment batches through nginx while one collector is SIGKILLed and restarted, then
//! a client retries batches whose answer it "lost" on the other collector. Read back,
//! each collector's records are told apart by their stored value (its receivedAt):
//! every acknowledged messageId is in the topic; a messageId is there twice only where
//! both collectors stored it (a retry crossed) or as a resend of the collector that was
//! killed; a user's records from one collector keep the client's order; deduplicating
//! by messageId, as a consumer does, leaves every event once.
//!
//! `front_passes_what_the_collector_needs`: upstream keepalive (the same connections to
//! the collectors carry every request), body limits (the collector's 413 under the
//! front's limit, the front's own 413 in the same JSON past it), the feed and deletion
//! refused at the front, the CORS preflight passed through, and with both spools full
//! every refusal is a 503 with Retry-After, the collector's or the front's own.
//!
//! nginx comes from scripts/install-test-deps.sh (`nginx-light`; or `$CAIRN_NGINX`); a
//! missing binary fails the test with that hint.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::{SocketAddr, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use cairn_testkit::{
    http_client, stored_user_id, temp_dir, CollectorProcess, ADMIN_KEY, READ_KEY, WRITE_KEY,
};
use kafka_support::{
    batch, collector, free_port, ids_of, metric, poll_until, post, Broker, Got, Reader,
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    ClientConfig,
};
use serde_json::{json, Value};

/// The front as documented.
const SITE: &str = include_str!("../deploy/nginx-cairn.conf");
const PARTITIONS: i32 = 4;
/// Load threads, each posting for users of its own, one batch after the other.
const THREADS: u32 = 4;
const USERS_PER_THREAD: u32 = 3;
/// Times collector A is SIGKILLed under load and restarted.
const KILL_ROUNDS: usize = 3;

fn nginx_bin() -> PathBuf {
    let bin = std::env::var_os("CAIRN_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        bin.exists(),
        "{} is missing: apt-get install nginx-light (or bash scripts/install-test-deps.sh)",
        bin.display()
    );
    bin
}

/// nginx in the foreground, everything it writes (pid, logs, temp files) in `dir`.
struct Front {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Front {
    fn start(dir: &Path, a: SocketAddr, b: SocketAddr) -> Self {
        let dir = dir.join("nginx");
        // Workers run as another user when the master is root: their temp dirs must be
        // theirs to write.
        for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            let sub = dir.join(sub);
            std::fs::create_dir_all(&sub).expect("nginx dir");
            std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777))
                .expect("chmod nginx dir");
        }
        let port = free_port();
        let mut site = SITE.to_owned();
        for (from, to) in [
            ("listen 80;", format!("listen 127.0.0.1:{port};")),
            ("10.0.0.11:8080", a.to_string()),
            ("10.0.0.12:8080", b.to_string()),
        ] {
            assert_eq!(
                site.matches(from).count(),
                1,
                "{from:?} in nginx-cairn.conf"
            );
            site = site.replace(from, &to);
        }
        std::fs::write(dir.join("cairn.conf"), site).expect("write cairn.conf");
        let d = dir.display();
        // The access log names the collectors each request went to ("a, b" when nginx
        // sent it again to the other one).
        let main = format!(
            "worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    log_format front '$status $request_method $uri \"$upstream_addr\" \"$upstream_status\"';
    access_log {d}/access.log front;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/cairn.conf;
}}
"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, main).expect("write nginx.conf");
        let mut child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let listening = poll_until(Duration::from_secs(30), || {
            TcpStream::connect(addr).is_ok() || child.try_wait().ok().flatten().is_some()
        });
        let exited = child.try_wait().ok().flatten();
        assert!(
            listening && exited.is_none(),
            "nginx did not listen on {port} ({exited:?}): {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests nginx sent to a second collector after the first failed or answered 503.
    fn sent_again(&self) -> usize {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(", "))
            .count()
    }
}

impl Drop for Front {
    /// SIGTERM, so the master stops its workers (SIGKILL would leave them running).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What the load threads share.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    acked: Mutex<Vec<String>>,
    /// Events acknowledged so far.
    count: AtomicUsize,
    /// Answers other than 200 (each retried by the client with the same batch).
    refused: AtomicUsize,
    /// Why a thread stopped early (an answer no client should get from the front).
    failed: Mutex<Option<String>>,
}

impl Load {
    fn failed(&self) -> bool {
        self.failed.lock().unwrap().is_some()
    }
}

/// Posts batches for `thread`'s users through the front until told to stop, one after
/// the other, like an SDK: a batch not acknowledged is sent again, same messageIds.
fn load(url: String, thread: u32, shared: Arc<Load>) {
    let client = http_client().build().unwrap();
    let users = thread * USERS_PER_THREAD..(thread + 1) * USERS_PER_THREAD;
    let mut n = 0;
    while !shared.stop.load(Ordering::Acquire) {
        let body = batch("front", users.clone(), n, 5);
        n += 5;
        let mut attempts = 0;
        loop {
            match post(&client, &url, &body) {
                (200, _) => break,
                // What the front or a collector answers when a retry may help.
                (503, Some(_)) if attempts < 100 => {
                    attempts += 1;
                    shared.refused.fetch_add(1, Ordering::AcqRel);
                }
                (status, retry_after) => {
                    *shared.failed.lock().unwrap() = Some(format!(
                        "status {status} (Retry-After {retry_after:?}) after {attempts} retries"
                    ));
                    return;
                }
            }
        }
        let ids = ids_of(&body);
        shared.count.fetch_add(ids.len(), Ordering::AcqRel);
        shared.acked.lock().unwrap().extend(ids);
    }
}

/// A collector's stored events, from its own feed: messageId -> stored value, and per
/// stored userId the messageIds in commit order.
struct Stored {
    values: HashMap<String, Value>,
    by_user: HashMap<String, Vec<String>>,
}

impl Stored {
    fn read(c: &CollectorProcess) -> Self {
        let mut values = HashMap::new();
        let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
        for r in c.feed(0).into_iter().filter(|r| r["kind"] == "event") {
            let id = r["key"].as_str().expect("feed key").to_owned();
            let user = r["value"]["userId"].as_str().expect("userId").to_owned();
            by_user.entry(user).or_default().push(id.clone());
            assert!(
                values.insert(id, r["value"].clone()).is_none(),
                "a collector stored a messageId twice"
            );
        }
        Self { values, by_user }
    }

    fn holds(&self, g: &Got) -> bool {
        g.header("messageId")
            .and_then(|id| self.values.get(id))
            .is_some_and(|v| *v == g.value)
    }
}

/// Reads until every record both collectors stored is in `reader` (matched by its
/// stored value), then up to each partition's end.
fn read_all(reader: &mut Reader, broker: &str, topic: &str, stored: [&Stored; 2]) {
    let mut pending: HashMap<String, Vec<Value>> = HashMap::new();
    for s in stored {
        for (id, v) in &s.values {
            pending.entry(id.clone()).or_default().push(v.clone());
        }
    }
    let mut seen = 0;
    let all_in = reader.read_until(Duration::from_secs(180), |got| {
        for g in &got[seen..] {
            if let Some(id) = g.header("messageId") {
                if let Some(values) = pending.get_mut(id) {
                    values.retain(|v| *v != g.value);
                    if values.is_empty() {
                        pending.remove(id);
                    }
                }
            }
        }
        seen = got.len();
        pending.is_empty()
    });
    assert!(
        all_in,
        "{} stored messageIds never reached the topic",
        pending.len()
    );
    // A stored record reached the topic after any resend of the collector holding it
    // (a forwarder sends in order): the topic's end now is its end.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "cairn-test-watermarks")
        .create()
        .expect("watermark consumer");
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(30))
                .expect("watermarks")
                .1
        })
        .collect();
    let at_end = reader.read_until(Duration::from_secs(60), |got| {
        (0..PARTITIONS).all(|p| {
            ends[p as usize] == 0
                || got
                    .iter()
                    .any(|g| g.partition == p && g.offset >= ends[p as usize] - 1)
        })
    });
    assert!(at_end, "the topic was not read to its end {ends:?}");
}

/// A consumer's deduplication: the first message of each messageId, in the order read.
fn dedup(got: &[Got]) -> Vec<&Got> {
    let mut seen = HashSet::new();
    got.iter()
        .filter(|g| g.header("kind") == Some("event"))
        .filter(|g| seen.insert(g.header("messageId").unwrap_or("").to_owned()))
        .collect()
}

#[test]
fn several_collectors_one_topic_consumer_dedup_is_exactly_once() {
    let broker = Broker::start();
    broker.create_topic("front", PARTITIONS as u32);
    let (dir_a, dir_b, dir) = (
        temp_dir("kafka-nginx-a"),
        temp_dir("kafka-nginx-b"),
        temp_dir("kafka-nginx"),
    );
    let mut a = collector(&dir_a, &broker.address(), "front", &[]);
    let b = collector(&dir_b, &broker.address(), "front", &[]);
    let front = Front::start(dir.path(), a.addr, b.addr);
    let metrics = http_client().build().unwrap();
    let accepted = |c: &CollectorProcess| metric(&metrics, &c.url, "cairn_events_accepted_total");

    let shared = Arc::new(Load::default());
    let loaders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (url, shared) = (front.url(), shared.clone());
            std::thread::spawn(move || load(url, t, shared))
        })
        .collect();
    let count = || shared.count.load(Ordering::Acquire);
    assert!(
        poll_until(Duration::from_secs(60), || shared.failed()
            || (accepted(&a) >= 1000.0 && accepted(&b) >= 1000.0)),
        "nginx did not spread the load over both collectors"
    );
    // A is SIGKILLed under load and restarted, KILL_ROUNDS times: the requests it had
    // in flight are resent by nginx to B, and those it had written before dying are
    // then stored by both.
    let mut at_kills = Vec::new();
    for _ in 0..KILL_ROUNDS {
        a.kill9();
        let at_kill = count();
        at_kills.push(at_kill);
        assert!(
            poll_until(Duration::from_secs(60), || shared.failed()
                || count() >= at_kill + 2000),
            "ingest through the front stopped with one collector down"
        );
        a.restart();
        assert!(
            poll_until(Duration::from_secs(60), || shared.failed()
                || accepted(&a) >= 500.0),
            "the restarted collector got nothing through the front"
        );
    }
    shared.stop.store(true, Ordering::Release);
    for l in loaders {
        l.join().expect("load thread");
    }
    assert_eq!(
        *shared.failed.lock().unwrap(),
        None,
        "a client got an answer it cannot retry"
    );
    let mut acked = shared.acked.lock().unwrap().clone();

    // A client whose answer was lost sends the batch again. Through the front it may
    // land on either collector; here on purpose: `cross` on A then B (both store it),
    // `again` twice on A (A stores it once, the second time counted as duplicates).
    let client = http_client().build().unwrap();
    let cross = batch("cross", 100..104, 0, 5);
    let again = batch("again", 104..108, 0, 5);
    let duplicates_before = metric(&client, &a.url, "cairn_events_duplicate_total");
    for (c, body) in [(&a, &cross), (&b, &cross), (&a, &again), (&a, &again)] {
        assert_eq!(
            post(&client, &c.url, body).0,
            200,
            "direct post to {}",
            c.url
        );
    }
    assert_eq!(
        metric(&client, &a.url, "cairn_events_duplicate_total") - duplicates_before,
        20.0,
        "A did not recognise the batch it had stored"
    );
    acked.extend(ids_of(&cross));
    acked.extend(ids_of(&again));

    let (stored_a, stored_b) = (Stored::read(&a), Stored::read(&b));
    let mut reader = Reader::new(&broker.address(), "front", PARTITIONS);
    read_all(
        &mut reader,
        &broker.address(),
        "front",
        [&stored_a, &stored_b],
    );
    let events: Vec<&Got> = reader
        .got
        .iter()
        .filter(|g| g.header("kind") == Some("event"))
        .collect();

    // Every acknowledged messageId is in the topic, and every message there is a record
    // one of the collectors stored.
    let in_topic: HashSet<&str> = events
        .iter()
        .filter_map(|g| g.header("messageId"))
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !in_topic.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let strays = events
        .iter()
        .filter(|g| !stored_a.holds(g) && !stored_b.holds(g))
        .count();
    assert_eq!(strays, 0, "messages in the topic that no collector stored");

    // Copies per messageId, by the collector whose record they are.
    let mut copies: HashMap<&str, (usize, usize)> = HashMap::new();
    for g in &events {
        let c = copies.entry(g.header("messageId").unwrap()).or_default();
        if stored_a.holds(g) {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    let (mut crossed, mut resent, mut ambiguous) = (0, 0, BTreeSet::new());
    for (id, (from_a, from_b)) in &copies {
        let (va, vb) = (stored_a.values.get(*id), stored_b.values.get(*id));
        if va.is_some() && va == vb {
            // Both stored the very same bytes (the same receivedAt millisecond): the
            // copies cannot be told apart.
            ambiguous.insert(id.to_string());
            assert!(
                from_a + from_b >= 2,
                "{id}: stored twice, {} copies",
                from_a + from_b
            );
            continue;
        }
        // B never stopped: each of its records is there once. A may resend what it had
        // forwarded but not yet recorded as forwarded when it was killed.
        assert_eq!(
            *from_b,
            usize::from(vb.is_some()),
            "{id}: B's record {from_b} times"
        );
        assert_eq!(
            *from_a >= 1,
            va.is_some(),
            "{id}: A's record {from_a} times"
        );
        crossed += usize::from(va.is_some() && vb.is_some());
        resent += from_a.saturating_sub(1);
    }
    for id in ids_of(&cross) {
        assert!(
            stored_a.values.contains_key(&id) && stored_b.values.contains_key(&id),
            "{id} not stored by both"
        );
        let (from_a, from_b) = copies[id.as_str()];
        assert_eq!(from_a + from_b, 2, "{id}: a retry that crossed collectors");
    }
    for id in ids_of(&again) {
        assert_eq!(
            copies[id.as_str()],
            (1, 0),
            "{id}: a retry on the same collector"
        );
    }

    // One user's records from one collector: on the user's partition, in that
    // collector's commit order, which is the client's order (properties.n).
    let users: Vec<u32> = (0..THREADS * USERS_PER_THREAD).chain(100..108).collect();
    let mut interleaved = 0;
    for &u in &users {
        let key = stored_user_id(&format!("u{u}"));
        let mine: Vec<&Got> = events.iter().copied().filter(|g| g.key == key).collect();
        let partitions: HashSet<i32> = mine.iter().map(|g| g.partition).collect();
        assert_eq!(partitions.len(), 1, "u{u} on partitions {partitions:?}");
        for (name, stored, other) in [("A", &stored_a, &stored_b), ("B", &stored_b, &stored_a)] {
            let mut seen = HashSet::new();
            let from_this: Vec<&Got> = mine
                .iter()
                .copied()
                .filter(|g| stored.holds(g) && !other.holds(g))
                .filter(|g| seen.insert(g.header("messageId").unwrap()))
                .collect();
            let order: Vec<&str> = from_this
                .iter()
                .filter_map(|g| g.header("messageId"))
                .collect();
            let committed: Vec<&str> = stored
                .by_user
                .get(&key)
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|id| !ambiguous.contains(*id))
                .collect();
            assert_eq!(
                order, committed,
                "u{u}: {name}'s records out of its commit order"
            );
            let ns: Vec<u64> = from_this
                .iter()
                .map(|g| g.value["properties"]["n"].as_u64().expect("n"))
                .collect();
            assert!(
                ns.windows(2).all(|w| w[0] < w[1]),
                "u{u}: {name}'s records out of the client's order: {ns:?}"
            );
        }
        let consumed: Vec<u64> = dedup(&reader.got)
            .into_iter()
            .filter(|g| g.key == key)
            .map(|g| g.value["properties"]["n"].as_u64().expect("n"))
            .collect();
        interleaved += usize::from(!consumed.windows(2).all(|w| w[0] < w[1]));
    }

    // The consumer's deduplication by messageId: each stored event exactly once.
    let deduped = dedup(&reader.got);
    let union: HashSet<&String> = stored_a
        .values
        .keys()
        .chain(stored_b.values.keys())
        .collect();
    assert_eq!(
        deduped.len(),
        union.len(),
        "after dedup, one message per stored event"
    );
    let deduped_ids: HashSet<&str> = deduped
        .iter()
        .filter_map(|g| g.header("messageId"))
        .collect();
    assert!(acked.iter().all(|id| deduped_ids.contains(id.as_str())));

    eprintln!(
        "kafka_nginx: {} events acknowledged through nginx and direct (A SIGKILLed after \
         {at_kills:?}); A stored {}, B {}; {} messages in the topic for {} messageIds: {crossed} \
         stored by both collectors (20 by the direct retry, the rest by nginx resending a \
         request A took but did not answer), {resent} resent by A after its restart, {} \
         identical in both (not told apart); nginx sent {} requests again to the other \
         collector, clients saw {} non-200 answers; after dedup {} events, each once; {} \
         of {} users' consumed order mixes the two collectors' streams",
        acked.len(),
        stored_a.values.len(),
        stored_b.values.len(),
        events.len(),
        copies.len(),
        ambiguous.len(),
        front.sent_again(),
        shared.refused.load(Ordering::Acquire),
        deduped.len(),
        interleaved,
        users.len(),
    );
}

/// nginx's connections to the collectors' ports (their local ports), from
/// /proc/net/tcp: ESTABLISHED with the collector as the remote end.
fn connections_to(ports: &[u16]) -> BTreeSet<u16> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state) = (f.get(1)?, f.get(2)?, f.get(3)?);
            (*state == "01" && ports.contains(&port_of(remote)?)).then(|| port_of(local))?
        })
        .collect()
}

/// Posts raw bytes through `url`; status, Retry-After and the JSON body.
fn send(
    client: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Vec<u8>,
) -> (u16, Option<String>, Value) {
    let r = client
        .request(method, url)
        .basic_auth(key, Some(""))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("request through the front");
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = r.status().as_u16();
    (status, retry_after, r.json().unwrap_or(Value::Null))
}

/// A batch of about `bytes` bytes of JSON: 8 KB events.
fn padded_batch(tag: &str, bytes: usize) -> Vec<u8> {
    let pad = "x".repeat(8000);
    let events: Vec<Value> = (0..bytes / 8150)
        .map(|n| {
            json!({"type": "track", "event": "view", "userId": "big", "messageId": format!("{tag}-{n}"),
                   "properties": {"pad": pad}})
        })
        .collect();
    let mut body = serde_json::to_vec(&json!({ "batch": events })).unwrap();
    // Pad with JSON whitespace to the exact size.
    body.resize(bytes.max(body.len()), b' ');
    body
}

#[test]
fn front_passes_what_the_collector_needs() {
    // No broker yet: each collector's spool fills at 200 KB and it answers 503.
    let broker_port = free_port();
    let broker_address = format!("127.0.0.1:{broker_port}");
    let (dir_a, dir_b, dir) = (
        temp_dir("kafka-nginx-front-a"),
        temp_dir("kafka-nginx-front-b"),
        temp_dir("kafka-nginx-front"),
    );
    let spool = ["--kafka-spool-bytes", "200000", "--retry-after-secs", "2"];
    let a = collector(&dir_a, &broker_address, "limits", &spool);
    let b = collector(&dir_b, &broker_address, "limits", &spool);
    let front = Front::start(dir.path(), a.addr, b.addr);
    let url = front.url();
    let client = http_client().build().unwrap();
    let mut acked = Vec::new();

    // Keepalive: one client posting one batch after another; after each answer nginx
    // holds its connections to the collectors open, and the same few carry them all.
    let ports = [a.addr.port(), b.addr.port()];
    let mut used = BTreeSet::new();
    for n in 0..100 {
        let body = batch("keep", 0..1, n, 1);
        assert_eq!(post(&client, &url, &body).0, 200);
        acked.extend(ids_of(&body));
        let open = connections_to(&ports);
        assert!(
            !open.is_empty(),
            "nginx kept no connection to the collectors after post {n}"
        );
        used.extend(open);
    }
    assert!(
        used.len() <= 4,
        "100 posts used {} connections to the collectors",
        used.len()
    );

    // Limits: under the collector's 500 KiB the batch is taken; between it and the
    // front's 600 KiB the collector refuses it; past that the front does, in the same
    // JSON. 512,000 bytes is the collector's limit.
    let v1 = format!("{url}/v1/batch");
    let (status, _, body) = send(
        &client,
        reqwest::Method::POST,
        &v1,
        WRITE_KEY,
        padded_batch("over-front", 700_000),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("front"),
        "{body}"
    );
    let (status, _, body) = send(
        &client,
        reqwest::Method::POST,
        &v1,
        WRITE_KEY,
        padded_batch("over", 512_001),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("512000"),
        "the collector's 413: {body}"
    );
    let (status, _, body) = send(
        &client,
        reqwest::Method::POST,
        &v1,
        WRITE_KEY,
        padded_batch("under", 512_000),
    );
    assert_eq!(status, 200, "{body}");
    acked.extend((0..512_000 / 8150).map(|n| format!("under-{n}")));

    // Per-collector endpoints are refused at the front; the preflight goes through.
    let (status, _, _) = send(
        &client,
        reqwest::Method::GET,
        &format!("{url}/v1/feed"),
        READ_KEY,
        vec![],
    );
    assert_eq!(status, 403, "the feed through the front");
    let (status, _, _) = send(
        &client,
        reqwest::Method::DELETE,
        &format!("{url}/v1/users/u1"),
        ADMIN_KEY,
        vec![],
    );
    assert_eq!(status, 403, "a deletion through the front");
    let preflight = client
        .request(reqwest::Method::OPTIONS, &v1)
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .expect("preflight");
    assert!(
        preflight.status().is_success(),
        "preflight {}",
        preflight.status()
    );
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"*"[..])
    );

    // Both spools fill (posted to directly). Through the front nginx then tries both
    // collectors, each answers 503: the last one's answer reaches the client with its
    // Retry-After (2 s). Once nginx has taken both out (three failed attempts each), it
    // answers 503 itself, with its own Retry-After (1 s). Nothing else is answered.
    let mut round = 0;
    for c in [&a, &b] {
        let full = poll_until(Duration::from_secs(60), || {
            let body = batch("fill", 0..10, round * 5, 5);
            round += 1;
            match post(&client, &c.url, &body) {
                (200, _) => {
                    acked.extend(ids_of(&body));
                    false
                }
                (status, retry_after) => {
                    assert_eq!((status, retry_after.as_deref()), (503, Some("2")));
                    true
                }
            }
        });
        assert!(full, "{}'s spool never filled", c.url);
    }
    let fill = |round: u32| serde_json::to_vec(&batch("fill", 0..10, round * 5, 5)).unwrap();
    let (status, retry_after, answer) =
        send(&client, reqwest::Method::POST, &v1, WRITE_KEY, fill(round));
    assert_eq!(
        (status, retry_after.as_deref()),
        (503, Some("2")),
        "{answer}"
    );
    assert_eq!(
        answer["error"], "overloaded",
        "the collector's answer: {answer}"
    );
    let (mut from_collector, mut from_front) = (1, 0);
    let front_answered = poll_until(Duration::from_secs(60), || {
        round += 1;
        let (status, retry_after, answer) =
            send(&client, reqwest::Method::POST, &v1, WRITE_KEY, fill(round));
        let own = answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("no collector"));
        match (status, retry_after.as_deref(), own) {
            (503, Some("2"), false) => from_collector += 1,
            (503, Some("1"), true) => from_front += 1,
            _ => panic!("answer {status} Retry-After {retry_after:?}: {answer}"),
        }
        from_front > 0
    });
    assert!(front_answered, "nginx never took the full collectors out");

    // With a broker the spools drain and the front takes batches again.
    let broker = Broker::start_on(broker_port);
    broker.create_topic("limits", 2);
    let resumed = poll_until(Duration::from_secs(60), || {
        let body = batch("after", 0..10, round * 5, 5);
        round += 1;
        let ok = post(&client, &url, &body).0 == 200;
        if ok {
            acked.extend(ids_of(&body));
        }
        ok
    });
    assert!(resumed, "the front took nothing once the broker was there");
    let mut reader = Reader::new(&broker.address(), "limits", 2);
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing",
        missing.len()
    );
    eprintln!(
        "kafka_nginx front: 100 posts over {} connections to the collectors; 503s with \
         Retry-After: {from_collector} passed from a collector, {from_front} the front's own; \
         {} events acknowledged, all in the topic",
        used.len(),
        acked.len()
    );
}
