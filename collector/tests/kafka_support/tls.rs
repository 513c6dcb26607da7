//! TLS in front of the test broker (a test stand-in, named as such): tansu 0.6 takes
//! `--cert`/`--key` but never uses them (its TLS acceptor is built and dropped), so a
//! TLS-terminating TCP proxy written here (tokio-rustls) stands where a managed Kafka's
//! TLS listener would, and tansu advertises the proxy's address, so every client
//! connection after the bootstrap one goes through TLS too.
//!
//! The certificates come from a throw-away test CA made with the `openssl` command
//! line: the leaf is for `localhost` and 127.0.0.1. A second CA, which did not sign
//! the leaf, is the "wrong CA" a misconfigured client trusts.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use tokio_rustls::{
    rustls::{
        self,
        pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    },
    TlsAcceptor,
};

/// A test CA, and (for the signing one) the proxy's certificate.
pub struct TestCa {
    pub ca_pem: PathBuf,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

fn openssl(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e} (the openssl command line is needed)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A CA named `name` in `dir/name/`, with a leaf certificate it signed.
    pub fn create(dir: &Path, name: &str) -> TestCa {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("CA dir");
        let p = |f: &str| dir.join(f);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            Command::new("openssl")
                .args(["req", "-x509"])
                .args(ec)
                .args(["-days", "2", "-subj", &format!("/CN=Cairn test CA {name}")])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(p("ca.key"))
                .arg("-out")
                .arg(p("ca.pem")),
        );
        openssl(
            Command::new("openssl")
                .arg("req")
                .args(ec)
                .args(["-subj", "/CN=localhost"])
                .arg("-keyout")
                .arg(p("leaf.key"))
                .arg("-out")
                .arg(p("leaf.csr")),
        );
        std::fs::write(
            p("leaf.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write leaf.ext");
        openssl(
            Command::new("openssl")
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
                .arg(p("leaf.pem")),
        );
        TestCa {
            ca_pem: p("ca.pem"),
            cert_pem: p("leaf.pem"),
            key_pem: p("leaf.key"),
        }
    }

    /// `ssl.ca.location=<this CA>` as a collector `--kafka-option` value.
    pub fn ca_option(&self) -> String {
        format!("ssl.ca.location={}", self.ca_pem.display())
    }
}

/// A TLS-terminating TCP proxy on a loopback port, relaying each connection in
/// plaintext to `upstream`.
pub struct TlsProxy {
    pub port: u16,
    handshakes: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsProxy {
    /// Listens on `port` (the address the broker advertises) with `ca`'s leaf.
    pub fn start(ca: &TestCa, port: u16, upstream: SocketAddr) -> TlsProxy {
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
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the TLS proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let (handshakes, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        {
            let (handshakes, failed) = (handshakes.clone(), failed.clone());
            runtime.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, handshakes, failed) =
                        (acceptor.clone(), handshakes.clone(), failed.clone());
                    tokio::spawn(async move {
                        let _ = tcp.set_nodelay(true);
                        let mut tls = match acceptor.accept(tcp).await {
                            Ok(tls) => tls,
                            Err(_) => {
                                failed.fetch_add(1, Ordering::AcqRel);
                                return;
                            }
                        };
                        handshakes.fetch_add(1, Ordering::AcqRel);
                        let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = up.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    });
                }
            });
        }
        TlsProxy {
            port,
            handshakes,
            failed,
            runtime: Some(runtime),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// TLS handshakes that completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Acquire)
    }

    /// TLS handshakes that failed (e.g. the client did not trust the certificate).
    pub fn failed_handshakes(&self) -> usize {
        self.failed.load(Ordering::Acquire)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
