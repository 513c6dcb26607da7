//! Load shedding at the door, on the real binary: past `--max-pending-requests` an
//! ingest request is answered 503 with Retry-After before its body is read, and a
//! request refused before its whole body was read (shed, body timeout, too large) has
//! its connection closed after the answer, so the rest of its body is never read as a
//! next request. Requests are written by hand on raw sockets, keep-alive unless said,
//! so that only the server can close them; each read ends at the server's close.

mod api_support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use api_support::*;
use cairn_testkit::{CollectorProcess, WRITE_KEY};
use serde_json::json;

fn connect(c: &CollectorProcess) -> TcpStream {
    let stream = TcpStream::connect(c.addr).expect("connect");
    // Only a guard against a hung test: the server is expected to close first.
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    stream
}

/// A keep-alive POST head with the test write key, declaring `length` body bytes.
fn head(c: &CollectorProcess, length: usize) -> String {
    format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        c.addr,
        basic(WRITE_KEY)
    )
}

/// Everything the server sends until it closes the connection: status and head.
fn until_closed(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("the server closes the connection after its answer");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head)
}

/// One response read from a connection kept open: its head (lower case) and body.
fn one_response(stream: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("response head");
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap().to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("response body");
    head + &String::from_utf8_lossy(&body)
}

fn body(tag: &str) -> Vec<u8> {
    json!({"batch": [{"type": "track", "event": "Viewed", "anonymousId": "a",
                      "messageId": tag}]})
    .to_string()
    .into_bytes()
}

#[test]
fn past_the_pending_bound_a_request_is_shed_before_its_body_and_its_connection_closed() {
    let c = start("shedding-bound", &["--max-pending-requests", "1"]);
    // One request admitted, its body held back.
    let held = HeldRequest::start(&c, "/v1/batch", &basic(WRITE_KEY), &body("held"), 5);
    await_metric(&c, "cairn_ingest_pending_requests", |n| n == 1.0);
    // The next: only its head is sent, and the 503 comes without waiting for the body.
    let mut shed = connect(&c);
    shed.write_all(head(&c, body("shed").len()).as_bytes())
        .unwrap();
    let (status, head) = until_closed(&mut shed);
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("retry-after:"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // The held request is answered once its body arrives, and frees its slot.
    let (status, answer) = held.finish();
    assert_eq!(status, 200, "{answer}");
    let reply = post_json(
        &c,
        "/v1/batch",
        &serde_json::from_slice(&body("next")).unwrap(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let keys = feed_keys(&c);
    assert_eq!(keys, ["held", "next"]);
}

#[test]
fn a_body_cut_by_a_timeout_or_a_limit_closes_its_connection() {
    let c = start("shedding-cut", &["--body-timeout-secs", "1"]);
    // Ten bytes of a declared thousand, then nothing: 408, then the server closes.
    let mut cut = connect(&c);
    cut.write_all(head(&c, 1000).as_bytes()).unwrap();
    cut.write_all(b"{\"batch\":[").unwrap();
    let (status, head) = until_closed(&mut cut);
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // A body declared over the limit: 413 before it is read, then closed.
    let mut large = connect(&c);
    large.write_all(self::head(&c, 1 << 30).as_bytes()).unwrap();
    let (status, head) = until_closed(&mut large);
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // A request read whole keeps its connection for the next one.
    let mut kept = connect(&c);
    for tag in ["one", "two"] {
        let bytes = body(tag);
        kept.write_all(self::head(&c, bytes.len()).as_bytes())
            .unwrap();
        kept.write_all(&bytes).unwrap();
        let text = one_response(&mut kept);
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(!text.contains("connection: close"), "{text}");
    }
    assert_eq!(feed_keys(&c), ["one", "two"]);
}

#[test]
fn a_head_past_the_read_buffer_is_refused_and_its_connection_closed() {
    let c = start("shedding-head", &[]);
    // 100 KB of header: past the 32 KiB a head may take.
    let mut big = connect(&c);
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\nContent-Length: 2\r\n\r\n",
        c.addr,
        "x".repeat(100 * 1024)
    );
    // The server may answer and close before the whole head is written.
    let _ = big.write_all(head.as_bytes());
    let (status, head) = until_closed(&mut big);
    assert_eq!(status, 431, "{head}");
    let reply = post_json(
        &c,
        "/v1/batch",
        &serde_json::from_slice(&body("after")).unwrap(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
}
