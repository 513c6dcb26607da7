//! Hostile connections on the real binary: hundreds of idle sockets, of requests whose
//! headers never end and of keyless requests whose bodies never arrive, held open while
//! a real client with a write key posts batches. The client's batches must all be
//! acknowledged; their latency is printed, not asserted. Then every hostile connection
//! must be closed by the server (header and body timeouts), which the test waits for by
//! reading each socket to its end.

mod api_support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use api_support::*;
use serde_json::json;

const EACH: usize = 200;

fn connect(c: &cairn_testkit::CollectorProcess) -> TcpStream {
    let stream = TcpStream::connect(c.addr).expect("connect");
    // Only a guard against a hung test: the server is expected to close first.
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    stream
}

#[test]
fn slow_and_idle_connections_do_not_deny_service_to_a_keyed_client() {
    let c = start(
        "slowloris",
        &[
            "--header-timeout-secs",
            "3",
            "--body-timeout-secs",
            "3",
            "--max-connections",
            "1000",
        ],
    );
    let mut hostile = Vec::new();
    for _ in 0..EACH {
        hostile.push(("idle", connect(&c)));
        let mut header = connect(&c);
        header
            .write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            .unwrap();
        hostile.push(("slow header", header));
        let mut body = connect(&c);
        body.write_all(
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 512000\r\n\r\n{\"batch\": [",
        )
        .unwrap();
        hostile.push(("slow keyless body", body));
    }

    let client = c.client();
    let mut latencies = Vec::new();
    for round in 0..50 {
        let batch: Vec<_> = (0..100)
            .map(|i| {
                json!({"type": "track", "event": "Viewed", "anonymousId": "real",
                            "messageId": format!("real-{round}-{i}")})
            })
            .collect();
        let started = Instant::now();
        let response = client
            .post(format!("{}/v1/batch", c.url))
            .basic_auth(cairn_testkit::WRITE_KEY, Some(""))
            .json(&json!({"batch": batch}))
            .send()
            .expect("the real client is served");
        latencies.push(started.elapsed());
        assert_eq!(response.status(), 200, "round {round}");
    }
    latencies.sort();
    let open = metric(&metrics(&c), "cairn_connections_open").unwrap_or(0.0);
    println!(
        "keyed client beside {} hostile connections ({} open at the end): \
         50 batches of 100 events, p50 {:?}, p99 {:?}, max {:?}",
        hostile.len(),
        open,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1]
    );
    assert_eq!(feed_events(&c).len(), 5000);

    let started = Instant::now();
    let mut answered = std::collections::BTreeMap::<String, usize>::new();
    for (kind, mut stream) in hostile {
        let mut response = Vec::new();
        let ended = stream.read_to_end(&mut response);
        let status = String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)
            .unwrap_or("closed")
            .to_owned();
        assert!(
            ended.is_ok()
                || matches!(ended, Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{kind}: the server closes it ({ended:?})"
        );
        *answered.entry(format!("{kind}: {status}")).or_default() += 1;
    }
    println!(
        "every hostile connection closed by the server {:?} after the client's last batch: {answered:?}",
        started.elapsed()
    );
}
