//! Two collectors, each with its own data dir, behind one address, producing to one
//! topic. The front here is `TcpProxy`, a small round-robin TCP proxy written for this
//! test (standing in for the nginx or HAProxy front of docs/collector-api.md); one
//! HTTP client (reqwest, a connection per request) posts through it.

#![cfg(feature = "kafka")]

mod kafka_support;

use std::{
    io,
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
    time::Duration,
};

use cairn_testkit::{http_client, stored_user_id, temp_dir};
use kafka_support::{batch, collector, ids_of, metric, post, Broker, Reader};

/// The test's TCP proxy: each accepted connection goes to the next backend in turn.
struct TcpProxy {
    addr: SocketAddr,
}

impl TcpProxy {
    fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
                std::thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(backend) {
                        pipe(client, server);
                    }
                });
            }
        });
        Self { addr }
    }
}

/// Copies both ways until each side has closed its half.
fn pipe(client: TcpStream, server: TcpStream) {
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let _ = io::copy(&mut s_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
}

#[test]
fn two_collectors_behind_one_port_every_event_in_the_topic() {
    let broker = Broker::start();
    broker.create_topic("shared", 4);
    let (dir_a, dir_b) = (temp_dir("kafka-two-a"), temp_dir("kafka-two-b"));
    let a = collector(&dir_a, &broker.address(), "shared", &[]);
    let b = collector(&dir_b, &broker.address(), "shared", &[]);
    let proxy = TcpProxy::start(vec![a.addr, b.addr]);
    let front = format!("http://{}", proxy.addr);
    let client = http_client().pool_max_idle_per_host(0).build().unwrap();

    let mut acked = Vec::new();
    for round in 0..20 {
        let body = batch("two", 0..6, round * 3, 3);
        assert_eq!(post(&client, &front, &body).0, 200);
        acked.extend(ids_of(&body));
    }
    let metrics = http_client().build().unwrap();
    for c in [&a, &b] {
        assert!(
            metric(&metrics, &c.url, "cairn_events_accepted_total") > 0.0,
            "the proxy sent nothing to {}",
            c.url
        );
    }
    let mut reader = Reader::new(&broker.address(), "shared", 4);
    let missing = reader.wait_for_ids(&acked, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing",
        missing.len()
    );
    // Whichever collector took an event, a user's events share one key and partition.
    for u in 0..6 {
        let key = stored_user_id(&format!("u{u}"));
        let partitions: std::collections::HashSet<i32> = reader
            .got
            .iter()
            .filter(|g| g.key == key)
            .map(|g| g.partition)
            .collect();
        assert_eq!(partitions.len(), 1, "u{u} on partitions {partitions:?}");
    }
}
