//! A TLS-terminating proxy for the tests (a test stand-in, named as such): it accepts
//! HTTPS with a certificate from a throw-away test CA (made with the `openssl` command
//! line), answers each request as its script says (a status with an optional
//! `Retry-After`, or forward to the real collector over loopback HTTP, or forward and
//! then drop the connection without answering), and logs what it saw: when, how many
//! events, which messageIds, and what it answered.
//!
//! The foreign runtimes trust the CA through their own settings, never a Cairn option:
//! the JVM through `-Djavax.net.ssl.trustStore` (a PKCS12 store made with `keytool`),
//! Python through `SSL_CERT_FILE`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The test CA and the proxy's certificate (for `localhost` and 127.0.0.1).
pub struct TestCa {
    pub ca_pem: PathBuf,
    /// PKCS12 trust store holding only the CA, password [`TRUST_STORE_PASSWORD`].
    pub trust_store: PathBuf,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

pub const TRUST_STORE_PASSWORD: &str = "changeit";

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e} (openssl and the JDK's keytool are needed)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    pub fn create(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).expect("CA dir");
        let p = |f: &str| dir.join(f);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args(["-days", "2", "-subj", "/CN=Cairn test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem")));
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(p("leaf.key"))
            .arg("-out")
            .arg(p("leaf.csr")));
        std::fs::write(
            p("leaf.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write leaf.ext");
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
            .arg("-in")
            .arg(p("leaf.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-extfile")
            .arg(p("leaf.ext"))
            .arg("-out")
            .arg(p("leaf.pem")));
        run(Command::new("keytool")
            .args(["-importcert", "-noprompt", "-alias", "cairn-test-ca"])
            .args(["-storetype", "PKCS12", "-storepass", TRUST_STORE_PASSWORD])
            .arg("-file")
            .arg(p("ca.pem"))
            .arg("-keystore")
            .arg(p("trust.p12")));
        TestCa {
            ca_pem: p("ca.pem"),
            trust_store: p("trust.p12"),
            cert_pem: p("leaf.pem"),
            key_pem: p("leaf.key"),
        }
    }
}

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Status {
        code: u16,
        retry_after: Option<&'static str>,
    },
    /// Forward to the collector and relay its answer.
    Forward,
    /// Forward to the collector, then close the connection without answering (the
    /// collector stored the batch; the client sees a dropped connection).
    ForwardThenDrop,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub received: Instant,
    pub answered: Instant,
    pub answer: Answer,
    pub message_ids: Vec<String>,
}

pub struct TlsProxy {
    /// `https://localhost:<port>`.
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl TlsProxy {
    /// Listens on loopback; the first requests are answered by `script`, the rest
    /// forwarded to `upstream` (`http://127.0.0.1:<port>`).
    pub fn start(ca: &TestCa, upstream: &str, script: Vec<Answer>) -> TlsProxy {
        let certs = CertificateDer::pem_file_iter(&ca.cert_pem)
            .expect("leaf.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("leaf certificate");
        let key = PrivateKeyDer::from_pem_file(&ca.key_pem).expect("leaf key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!(
            "https://localhost:{}",
            listener.local_addr().expect("proxy address").port()
        );
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for tcp in listener.incoming().map_while(Result::ok) {
                    let (config, log, script, upstream) = (
                        config.clone(),
                        log.clone(),
                        script.clone(),
                        upstream.clone(),
                    );
                    std::thread::spawn(move || {
                        let conn = rustls::ServerConnection::new(config).expect("TLS session");
                        serve(
                            rustls::StreamOwned::new(conn, tcp),
                            &upstream,
                            &script,
                            &log,
                        );
                    });
                }
            });
        }
        TlsProxy { url, log }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Serves one client connection, request after request, until it closes.
fn serve(tls: Tls, upstream: &str, script: &Mutex<VecDeque<Answer>>, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(tls);
    while let Some((head, body)) = read_request(&mut reader) {
        let received = Instant::now();
        let answer = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Forward);
        let response = match &answer {
            Answer::Status { code, retry_after } => {
                let ra = retry_after.map_or(String::new(), |v| format!("Retry-After: {v}\r\n"));
                format!("HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\n{ra}\r\n").into_bytes()
            }
            Answer::Forward | Answer::ForwardThenDrop => forward(upstream, &head, &body),
        };
        let keep = answer != Answer::ForwardThenDrop;
        if keep {
            let tls = reader.get_mut();
            let _ = tls.write_all(&response).and_then(|()| tls.flush());
        }
        log.lock().unwrap().push(Seen {
            received,
            answered: Instant::now(),
            answer: answer.clone(),
            message_ids: message_ids(&body),
        });
        if !keep {
            // Drop the TCP connection without a response or a TLS close_notify.
            let _ = reader.get_ref().sock.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Reads one request: the head (request line and headers) and a Content-Length body.
fn read_request(r: &mut BufReader<Tls>) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let len = head
        .iter()
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// Sends the request to the collector with `Connection: close`, reads its answer to
/// the end and returns it reframed for the client's kept-alive connection.
fn forward(upstream: &str, head: &[String], body: &[u8]) -> Vec<u8> {
    let mut up = TcpStream::connect(upstream).expect("connect to the collector");
    let mut req = Vec::new();
    for (i, h) in head.iter().enumerate() {
        let name = h
            .split_once(':')
            .map(|(k, _)| k.trim().to_ascii_lowercase());
        if i > 0 && matches!(name.as_deref(), Some("connection" | "host")) {
            continue;
        }
        req.extend_from_slice(h.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(format!("Host: {upstream}\r\nConnection: close\r\n\r\n").as_bytes());
    req.extend_from_slice(body);
    up.write_all(&req).expect("write to the collector");
    let mut raw = Vec::new();
    up.read_to_end(&mut raw)
        .expect("read the collector's answer");
    reframe(&raw)
}

/// The collector's answer (HTTP/1.1, Connection: close, maybe chunked) as a response
/// with a Content-Length, so the client's connection can carry the next request.
fn reframe(raw: &[u8]) -> Vec<u8> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete answer from the collector");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap_or("HTTP/1.1 502 Bad Gateway")
        .to_string();
    let mut out = format!("{status}\r\n");
    let mut chunked = false;
    for h in lines {
        let name = h
            .split_once(':')
            .map(|(k, _)| k.trim().to_ascii_lowercase());
        match name.as_deref() {
            Some("transfer-encoding") => chunked = true,
            Some("content-length" | "connection") => {}
            _ => out.push_str(&format!("{h}\r\n")),
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// The messageIds of a gzipped Segment batch body.
fn message_ids(body: &[u8]) -> Vec<String> {
    let mut json = Vec::new();
    if flate2::read::GzDecoder::new(body)
        .read_to_end(&mut json)
        .is_err()
    {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&json).unwrap_or(Value::Null);
    v["batch"]
        .as_array()
        .map(|b| {
            b.iter()
                .filter_map(|m| m["messageId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
