//! Helpers shared by the HTTP-level tests (http_api, bad_input, privacy, schema): raw
//! requests with any headers and bytes, feed reading, gzip, /metrics values, and a
//! request whose body is held back on a raw socket.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use cairn_testkit::{temp_dir, CollectorProcess, WRITE_KEY};
use flate2::{write::GzEncoder, Compression};
use serde_json::Value;

/// Starts the real binary on port 0 with a fresh data dir named after the test.
pub fn start(name: &str, extra_args: &[&str]) -> CollectorProcess {
    CollectorProcess::start(
        env!("CARGO_BIN_EXE_cairn-collector"),
        temp_dir(name),
        extra_args,
    )
}

/// `Authorization` value carrying `key` as the HTTP Basic user name, empty password.
pub fn basic(key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{key}:")))
}

pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// What a client sees of a response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    /// The reason code of an error response (`{"success":false,"error":...}`).
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }
}

/// Any request: method, path, headers and raw body bytes exactly as given.
pub fn send(
    c: &CollectorProcess,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = c.client().request(method, format!("{}{path}", c.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .body(body.into())
        .send()
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().expect("response body");
    Reply {
        status,
        headers,
        text,
    }
}

/// POST of JSON bytes with the test (client) write key as Basic user name.
pub fn post_json(c: &CollectorProcess, path: &str, body: &Value) -> Reply {
    post_json_as(c, WRITE_KEY, path, body)
}

/// POST of JSON bytes with `write_key` as Basic user name.
pub fn post_json_as(c: &CollectorProcess, write_key: &str, path: &str, body: &Value) -> Reply {
    let auth = basic(write_key);
    send(
        c,
        "POST",
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
}

pub fn get(c: &CollectorProcess, path: &str, auth: Option<&str>) -> Reply {
    match auth {
        Some(auth) => send(c, "GET", path, &[("authorization", auth)], Vec::new()),
        None => send(c, "GET", path, &[], Vec::new()),
    }
}

/// Event records of the feed (kind "event"), in commit order.
pub fn feed_events(c: &CollectorProcess) -> Vec<Value> {
    c.feed(0)
        .into_iter()
        .filter(|r| r["kind"] == "event")
        .collect()
}

/// The stored event whose messageId is `id`; panics if absent.
pub fn stored(c: &CollectorProcess, id: &str) -> Value {
    feed_events(c)
        .into_iter()
        .find(|r| r["key"] == id)
        .map(|r| r["value"].clone())
        .unwrap_or_else(|| panic!("messageId {id} is not in the feed"))
}

/// messageIds (feed keys) of every event record.
pub fn feed_keys(c: &CollectorProcess) -> Vec<String> {
    feed_events(c)
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .collect()
}

pub fn last_cursor(c: &CollectorProcess) -> u64 {
    c.feed(0)
        .last()
        .and_then(|r| r["cursor"].as_u64())
        .unwrap_or(0)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The value of one sample in Prometheus text, e.g. `cairn_events_accepted_total` or
/// `cairn_events_rejected_total{reason="consent"}`.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("metric value"))
}

pub fn metrics(c: &CollectorProcess) -> String {
    let reply = get(c, "/metrics", None);
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.text
}

/// Polls /metrics until `sample` satisfies `pred`; panics after 30 s.
pub fn await_metric(c: &CollectorProcess, sample: &str, pred: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics(c);
        if metric(&text, sample).is_some_and(&pred) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sample} never reached the expected value:\n{text}"
        );
        std::thread::yield_now();
    }
}

/// A POST on a raw socket whose headers and first body bytes are sent, the rest held.
pub struct HeldRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl HeldRequest {
    pub fn start(c: &CollectorProcess, path: &str, auth: &str, body: &[u8], sent: usize) -> Self {
        let mut stream = TcpStream::connect(c.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            c.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(&body[..sent]).expect("write body start");
        stream.flush().expect("flush");
        Self {
            stream,
            rest: body[sent..].to_vec(),
        }
    }

    /// Sends the rest of the body and returns status and JSON body of the response.
    pub fn finish(mut self) -> (u16, Value) {
        self.stream.write_all(&self.rest).expect("write body rest");
        read_response(&mut self.stream)
    }
}

/// Writes a raw GET and returns the socket, to read its answer later.
pub fn raw_get(c: &CollectorProcess, path_and_query: &str, auth: &str) -> TcpStream {
    let mut stream = TcpStream::connect(c.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
        c.addr
    );
    stream.write_all(head.as_bytes()).expect("write request");
    stream.flush().expect("flush");
    stream
}

/// Reads an HTTP/1.1 response to the end (the request said Connection: close).
pub fn read_raw(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "unexpected chunked response: {head}"
    );
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

fn read_response(stream: &mut TcpStream) -> (u16, Value) {
    let (status, body) = read_raw(stream);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Is `s` 64 lower-case hex digits (an HMAC-SHA256 as the collector stores it)?
pub fn is_hash(s: &Value) -> bool {
    s.as_str().is_some_and(|s| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// DELETE /v1/users/{path} with the admin key (`path` may carry a query).
pub fn delete_user(c: &CollectorProcess, path: &str) -> Reply {
    let admin = bearer(cairn_testkit::ADMIN_KEY);
    send(
        c,
        "DELETE",
        &format!("/v1/users/{path}"),
        &[("authorization", &admin)],
        Vec::new(),
    )
}

/// How many times `needle` occurs in the bytes of every file under `dir`.
pub fn occurrences_in_dir(dir: &std::path::Path, needle: &[u8]) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            count += occurrences_in_dir(&path, needle);
        } else {
            let bytes = std::fs::read(&path).expect("read file");
            count += occurrences(&bytes, needle);
        }
    }
    count
}

/// How many times `needle` occurs in `hay`.
pub fn occurrences(hay: &[u8], needle: &[u8]) -> usize {
    let (Some(&first), true) = (needle.first(), needle.len() <= hay.len()) else {
        return 0;
    };
    let mut count = 0;
    let mut at = 0;
    while let Some(i) = hay[at..=hay.len() - needle.len()]
        .iter()
        .position(|b| *b == first)
    {
        let start = at + i;
        if &hay[start..start + needle.len()] == needle {
            count += 1;
        }
        at = start + 1;
        if at > hay.len() - needle.len() {
            break;
        }
    }
    count
}
