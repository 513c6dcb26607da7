//! The native driver against a scripted loopback HTTP server (not the collector:
//! end-to-end tests live in the workspace's tests/). It checks that the Client
//! really performs what the engine asks: request shape, retry, flush, shutdown.

use cairn::{
    Client, ClientOptions, Config, ConsentMode, Engine, Event, ManualClock, MemoryStore,
    SystemClock,
};
use flate2::read::GzDecoder;
use serde_json::{json, Value};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// Answers each request with the next status of `script` (then 200), recording it.
async fn server(script: Vec<u16>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut script = script.into_iter();
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed early");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let mut lines = head.split("\r\n");
            let path = lines.next().unwrap().split(' ').nth(1).unwrap().to_string();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut text = String::new();
            GzDecoder::new(&buf[head_end..head_end + len])
                .read_to_string(&mut text)
                .unwrap();
            log.lock().unwrap().push(Seen {
                path,
                headers,
                body: serde_json::from_str(&text).unwrap(),
            });
            let code = script.next().unwrap_or(200);
            let resp =
                format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            sock.write_all(resp.as_bytes()).await.unwrap();
        }
    });
    (url, seen)
}

fn client(url: &str) -> Client {
    let mut cfg = Config::new("wk_native", url);
    cfg.hash_key = "k".into();
    cfg.rng_seed = Some(1);
    cfg.backoff_base = Duration::from_millis(20);
    // Opt-out: everything granted from the start, so no consent record is queued
    // and each test sees only its own events.
    cfg.consent_mode = ConsentMode::OptOut;
    let engine = Engine::new(cfg, Arc::new(MemoryStore::new()), Arc::new(SystemClock)).unwrap();
    Client::start(engine, ClientOptions::default()).unwrap()
}

fn message_ids(s: &Seen) -> Vec<String> {
    s.body["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["messageId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_delivers_a_gzipped_segment_batch() {
    let (url, seen) = server(vec![]).await;
    let c = client(&url);
    c.track_event(Event::add_to_cart("sku-1", 1)).unwrap();
    c.track("custom_thing", json!({"a": 1})).unwrap();
    c.flush().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/batch");
    let h = |k: &str| {
        seen[0]
            .headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("content-encoding"), Some("gzip"));
    assert_eq!(h("authorization"), Some("Basic d2tfbmF0aXZlOg=="));
    let batch = seen[0].body["batch"].as_array().unwrap();
    assert_eq!(batch[0]["event"], "add_to_cart");
    assert_eq!(batch[1]["event"], "custom_thing");
    assert_eq!(c.with_engine(|e| e.queued()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_flush_reports_and_the_batch_is_retried() {
    let (url, seen) = server(vec![503]).await;
    let c = client(&url);
    c.track("e1", json!({})).unwrap();
    let err = c.flush().await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(c.with_engine(|e| e.queued()), 1, "kept for retry");
    c.flush().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(message_ids(&seen[0]), message_ids(&seen[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_while_backing_off_fails_at_once() {
    let (url, seen) = server(vec![503]).await;
    let mut cfg = Config::new("wk_native", &url);
    cfg.hash_key = "k".into();
    cfg.rng_seed = Some(1);
    cfg.backoff_base = Duration::from_secs(3600);
    cfg.backoff_cap = Duration::from_secs(3600);
    cfg.consent_mode = ConsentMode::OptOut;
    // The fake clock never moves: the backoff never ends.
    let clock = Arc::new(ManualClock::new(1_762_000_000_000));
    let engine = Engine::new(cfg, Arc::new(MemoryStore::new()), clock).unwrap();
    let options = ClientOptions {
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let c = Client::start(engine, options).unwrap();
    c.track("e1", json!({})).unwrap();
    assert!(c.flush().await.is_err());
    let again = tokio::time::timeout(Duration::from_secs(2), c.flush())
        .await
        .expect("flush must not wait out the backoff");
    let err = again.unwrap_err();
    assert!(err.to_string().contains("backing off"), "{err}");
    assert_eq!(c.with_engine(|e| e.queued()), 1, "kept for retry");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_keep_events_and_shutdown_times_out() {
    // Nothing listens on this port: connection refused, every attempt.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let c = client(&url);
    c.track("e1", json!({})).unwrap();
    assert!(c.flush().await.is_err());
    let r = c.shutdown(Duration::from_millis(300)).await;
    assert!(r.is_err());
    assert_eq!(c.with_engine(|e| e.queued()), 1);
    assert!(c.flush().await.is_err(), "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_uploads_what_is_queued() {
    let (url, seen) = server(vec![]).await;
    let c = client(&url);
    for i in 0..5 {
        c.track_event(Event::scroll_depth(i * 20)).unwrap();
    }
    c.shutdown(Duration::from_secs(5)).await.unwrap();
    let total: usize = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| message_ids(s).len())
        .sum();
    assert_eq!(total, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_key_fails_flush_and_keeps_the_events() {
    let (url, seen) = server(vec![401]).await;
    let c = client(&url);
    c.track("e1", json!({})).unwrap();
    c.track("e2", json!({})).unwrap();
    let err = c.flush().await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // Uploads are paused: the next flush says why at once, and nothing is lost.
    let again = c.flush().await.unwrap_err();
    assert!(
        again.to_string().contains("refused the write key"),
        "{again}"
    );
    assert_eq!(
        c.with_engine(|e| (e.queued(), e.key_refused())),
        (2, Some(401))
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}
