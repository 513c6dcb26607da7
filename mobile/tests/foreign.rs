//! The generated bindings, used from real foreign runtimes against the real collector
//! (uniffi-rs style: the Rust test harness runs foreign-language test programs).
//!
//! - Kotlin on a JVM: `tests/kotlin/CairnTest.kt` + the generated Kotlin, compiled once
//!   per test run with kotlinc (npm package kotlin-compiler) against JNA (Debian's
//!   libjna-java), run with `java -Djna.library.path=<dir of libcairn_mobile.so>`.
//! - Python: `tests/python/cairn_test.py` + the generated module (ctypes only).
//! - The round trips run every `SeedEvent` variant with the sample values cairn-codegen
//!   writes (`tests/kotlin/Samples.kt`, `tests/python/samples.py`).
//! - Swift: generated; no Swift compiler exists here, so `Cairn.swift` is parsed with
//!   tree-sitter-swift (syntax only), its C header is compiled (`clang -fsyntax-only`),
//!   and the committed copy is checked to be current.
//!
//! Bindings are generated fresh from the library this test run built (library mode,
//! with the workspace's uniffi-bindgen), never taken from the repo. A missing tool
//! fails the test with a message saying how to install it: nothing is skipped.
//!
//! Tools: `CAIRN_KOTLINC` (default `$HOME/.cache/cairn/kotlin/node_modules/kotlin-compiler/bin/kotlinc`),
//! `CAIRN_JNA_JAR` (default `/usr/share/java/jna.jar`), `java` and `python3` on PATH
//! (or `CAIRN_JAVA`, `CAIRN_PYTHON3`), and the project venv's python with tree-sitter-swift
//! (`CAIRN_PYTHON`, default `$HOME/.cache/cairn/venv/bin/python`).
//! `scripts/install-test-deps.sh` installs them.

mod tls_proxy;

use cairn_testkit::{files_containing, temp_dir, CollectorProcess, HASH_SECRET};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tls_proxy::{Answer, TestCa, TlsProxy, TRUST_STORE_PASSWORD};

const INSTALL_HINT: &str = "run `bash scripts/install-test-deps.sh` (it installs Debian's libjna-java and the npm kotlin-compiler into $HOME/.cache/cairn/kotlin)";
const DEVICE_HASH_KEY: &str = "device-hash-key-for-tests";
/// How long one foreign program may run before the test fails.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(120);

// --- Artifacts: the built library, fresh bindings, the compiled Kotlin program ----------

/// `target/<profile>/`: where cargo put the test binary's sibling artifacts.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Bindings {
    /// Directory holding libcairn_mobile.so (for JNA and ctypes).
    lib_dir: PathBuf,
    lib: PathBuf,
    /// Fresh bindings: kotlin/, python/ (with the .so linked beside the module), swift/.
    out: PathBuf,
}

/// Generates the bindings once per test run from the library cargo just built.
fn bindings() -> &'static Bindings {
    static B: OnceLock<Bindings> = OnceLock::new();
    B.get_or_init(|| {
        // `cargo test` builds the cdylib into deps/ (a cdylib's name has no hash) and
        // does not copy it up; `cargo build` does. Take the newer of the two.
        let profile = profile_dir();
        let lib = [profile.join("deps"), profile.clone()]
            .into_iter()
            .map(|d| d.join("libcairn_mobile.so"))
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .max()
            .map(|(_, p)| p)
            .unwrap_or_else(|| {
                panic!(
                    "libcairn_mobile.so is in neither {0}/deps nor {0}: cargo builds it \
                     (crate-type cdylib) with this test; run `cargo test -p cairn-mobile --all-features`",
                    profile.display()
                )
            });
        let lib_dir = lib.parent().expect("library directory").to_path_buf();
        let bindgen = option_env!("CARGO_BIN_EXE_uniffi-bindgen").unwrap_or_else(|| {
            panic!(
                "the uniffi-bindgen binary was not built: it needs the `cli` feature \
                 (run `cargo test -p cairn-mobile --all-features`, as scripts/test.sh does)"
            )
        });
        // One directory per test process; it outlives the process (a static is never
        // dropped), so each run removes those of processes that have ended.
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for old in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = old.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("cairn-mobile-bindings-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(old.path());
                }
            }
        }
        let out = tmp.join(format!("cairn-mobile-bindings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        for lang in ["kotlin", "python", "swift"] {
            let status = Command::new(bindgen)
                .args(["generate", "--no-format", "--metadata-no-deps", "--language", lang])
                .arg("--out-dir")
                .arg(out.join(lang))
                .arg(&lib)
                .current_dir(manifest_dir())
                .stdout(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("run {bindgen}: {e}"));
            assert!(status.success(), "uniffi-bindgen generate --language {lang} failed");
        }
        // ctypes loads the library from the module's own directory.
        #[cfg(unix)]
        std::os::unix::fs::symlink(&lib, out.join("python").join("libcairn_mobile.so"))
            .expect("link the library beside the Python module");
        Bindings { lib_dir, lib, out }
    })
}

fn tool(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn require_runs(program: &Path, arg: &str, what: &str) {
    let ok = Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{what} not found or not working at `{}`: {INSTALL_HINT}",
        program.display()
    );
}

struct Kotlin {
    java: PathBuf,
    classpath: String,
}

/// Compiles the generated Kotlin and the test program into one jar, once per run.
fn kotlin() -> &'static Kotlin {
    static K: OnceLock<Kotlin> = OnceLock::new();
    K.get_or_init(|| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let kotlinc = tool(
            "CAIRN_KOTLINC",
            &format!("{home}/.cache/cairn/kotlin/node_modules/kotlin-compiler/bin/kotlinc"),
        );
        assert!(
            kotlinc.exists(),
            "kotlinc is missing at {}: {INSTALL_HINT}",
            kotlinc.display()
        );
        let kotlin_lib = kotlinc
            .parent()
            .and_then(Path::parent)
            .expect("kotlin-compiler/bin/kotlinc")
            .join("lib");
        let coroutines = kotlin_lib.join("kotlinx-coroutines-core-jvm.jar");
        let stdlib = kotlin_lib.join("kotlin-stdlib.jar");
        for jar in [&coroutines, &stdlib] {
            assert!(
                jar.exists(),
                "{} is missing (kotlin-compiler install broken?): {INSTALL_HINT}",
                jar.display()
            );
        }
        let jna = tool("CAIRN_JNA_JAR", "/usr/share/java/jna.jar");
        assert!(
            jna.exists(),
            "JNA is missing at {}: {INSTALL_HINT}",
            jna.display()
        );
        let java = tool("CAIRN_JAVA", "java");
        require_runs(&java, "-version", "java (a JDK 11+)");

        let b = bindings();
        let jar = b.out.join("cairn-test.jar");
        let started = Instant::now();
        let layer = manifest_dir().join("kotlin/dev/cairn");
        let out = Command::new(&kotlinc)
            .arg(b.out.join("kotlin/dev/cairn/cairn_mobile.kt"))
            .args(kotlin_sources(&layer))
            .arg(manifest_dir().join("tests/kotlin/CairnTest.kt"))
            .arg(manifest_dir().join("tests/kotlin/Samples.kt"))
            .arg("-nowarn")
            .arg("-cp")
            .arg(format!("{}:{}", jna.display(), coroutines.display()))
            .arg("-d")
            .arg(&jar)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}: {INSTALL_HINT}", kotlinc.display()));
        assert!(
            out.status.success(),
            "kotlinc failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "kotlinc: compiled the bindings and CairnTest.kt in {:.1?}",
            started.elapsed()
        );
        Kotlin {
            java,
            classpath: [&jar, &jna, &coroutines, &stdlib]
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        }
    })
}

/// The Kotlin layer's files (written and generated), as build-android.sh takes them.
fn kotlin_sources(layer: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(layer)
        .unwrap_or_else(|e| panic!("{}: {e}", layer.display()))
        .map(|d| d.expect("layer directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "kt"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("SeedEventChecks.kt")),
        "the generated SeedEventChecks.kt is in {}: run `cargo run -p cairn-codegen`",
        layer.display()
    );
    files
}

fn python() -> PathBuf {
    let python = tool("CAIRN_PYTHON3", "python3");
    require_runs(&python, "--version", "python3");
    python
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    Kotlin,
    Python,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Kotlin => "kotlin",
            Lang::Python => "python",
        }
    }

    /// The test program in this language, with `args` (mode first).
    fn command(self, args: &[&str]) -> Command {
        self.command_trusting(args, None)
    }

    /// The program, trusting `ca` (if any) the runtime's own way: the JVM's trust
    /// store property, Python's SSL_CERT_FILE.
    fn command_trusting(self, args: &[&str], ca: Option<&TestCa>) -> Command {
        let b = bindings();
        match self {
            Lang::Kotlin => {
                let k = kotlin();
                let mut c = Command::new(&k.java);
                if let Some(ca) = ca {
                    c.arg(format!(
                        "-Djavax.net.ssl.trustStore={}",
                        ca.trust_store.display()
                    ))
                    .arg(format!(
                        "-Djavax.net.ssl.trustStorePassword={TRUST_STORE_PASSWORD}"
                    ))
                    .arg("-Djavax.net.ssl.trustStoreType=PKCS12")
                    // The JDK's HttpURLConnection silently re-sends a POST once when
                    // a kept-alive connection drops; off, so the core sees the drop.
                    .arg("-Dsun.net.http.retryPost=false");
                }
                c.arg(format!("-Djna.library.path={}", b.lib_dir.display()))
                    .arg("-cp")
                    .arg(&k.classpath)
                    .arg("CairnTestKt")
                    .args(args);
                c
            }
            Lang::Python => {
                let mut c = Command::new(python());
                let path = format!(
                    "{}:{}",
                    b.out.join("python").display(),
                    manifest_dir().join("python").display()
                );
                c.arg(manifest_dir().join("tests/python/cairn_test.py"))
                    .args(args)
                    .env("PYTHONPATH", path)
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                if let Some(ca) = ca {
                    c.env("SSL_CERT_FILE", &ca.ca_pem);
                }
                c
            }
        }
    }

    /// Runs the program to completion (bounded by PROGRAM_TIMEOUT) and returns its
    /// `KEY value` lines; fails the test on a non-zero exit.
    fn run(self, args: &[&str]) -> BTreeMap<String, String> {
        self.run_trusting(args, None)
    }

    fn run_trusting(self, args: &[&str], ca: Option<&TestCa>) -> BTreeMap<String, String> {
        self.run_command(self.command_trusting(args, ca), args)
    }

    /// Runs `command` (this language's program with `args`, possibly wrapped in
    /// another program) as [`Lang::run`] does.
    fn run_command(self, mut command: Command, args: &[&str]) -> BTreeMap<String, String> {
        let started = Instant::now();
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the {} program: {e}", self.name()));
        let out = wait_with_timeout(child, PROGRAM_TIMEOUT);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\n--- stdout\n{stdout}--- stderr\n{stderr}",
            self.name(),
            out.status
        );
        eprintln!(
            "{} {} ran in {:.1?}",
            self.name(),
            args[0],
            started.elapsed()
        );
        parse_lines(&stdout)
    }
}

fn parse_lines(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("foreign test program still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

// --- Expected values ------------------------------------------------------------------

fn hmac_hex(key: &str, msg: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::sign(&k, msg.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the collector stores for an identifier the device hashed: the device's
/// HMAC under the app's hashKey, re-keyed with the server's secret.
fn stored(device_hash: &str) -> String {
    hmac_hex(HASH_SECRET, device_hash)
}

fn events(collector: &CollectorProcess, at_least: usize) -> Vec<Value> {
    collector
        .wait_for_events(at_least, Duration::from_secs(30))
        .into_iter()
        .map(|r| r["value"].clone())
        .collect()
}

/// The events apart from the SDK's consent records (one per consent choice), and the
/// records.
fn split_records(evs: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    evs.into_iter()
        .partition(|e| e["event"] != cairn_protocol::events::CONSENT_CHANGED)
}

fn start_collector(name: &str) -> CollectorProcess {
    CollectorProcess::start(
        cairn_testkit::collector_bin(),
        temp_dir(&format!("{name}-collector")),
        &[],
    )
}

// --- The three scenarios, for each language ------------------------------------------

/// (a) Events arrive with hashed ids: the user id, e-mail and phone are HMACed on
/// the device under hashKey and re-keyed by the collector; no raw value arrives.
fn hashed_ids(lang: Lang) {
    let name = format!("mobile-{}-hashed", lang.name());
    let collector = start_collector(&name);
    let data_dir = temp_dir(&format!("{name}-device"));
    let out = lang.run(&[
        "hashed",
        &collector.url,
        data_dir.to_str().unwrap(),
        DEVICE_HASH_KEY,
    ]);
    assert!(out.contains_key("DONE"), "{out:?}");
    assert_eq!(
        out["ERROR_NAN"], "invalid argument: properties.price is NaN (not a finite number)",
        "{out:?}"
    );
    let unsupported = &out["ERROR_TYPE"];
    assert!(
        unsupported.starts_with("invalid argument: properties.items[0].at has unsupported type"),
        "{out:?}"
    );
    assert_eq!(out["ERROR_EMPTY"], "event name or id is empty", "{out:?}");
    assert_eq!(
        out["ERROR_ARG"], "invalid argument: quantity is -1, not 1..=2147483647",
        "{out:?}"
    );
    let anonymous_id = &out["ANONYMOUS_ID"];

    let (evs, records) = split_records(events(&collector, 5));
    assert_eq!(
        evs.len(),
        4,
        "identify, custom, add_to_cart, screen: {evs:#?}"
    );
    assert_eq!(records.len(), 1, "the record of the one consent choice");
    assert_eq!(records[0]["properties"]["analytics"], true);
    assert_eq!(records[0]["context"]["purpose"], "consent");
    let user = stored(&hmac_hex(DEVICE_HASH_KEY, "user-42"));
    for e in &evs {
        assert_eq!(e["userId"], user.as_str(), "{e}");
        assert_eq!(&e["anonymousId"], anonymous_id.as_str(), "{e}");
        assert_eq!(e["context"]["library"]["name"], "cairn-mobile");
        assert_eq!(e["context"]["locale"], "fr-FR");
        assert_eq!(e["context"]["consent"]["analytics"], true);
    }
    let identify = evs
        .iter()
        .find(|e| e["type"] == "identify")
        .expect("identify");
    let email_device = hmac_hex(DEVICE_HASH_KEY, "alice@example.com");
    assert_eq!(identify["traits"]["email"], stored(&email_device).as_str());
    let phone_device = hmac_hex(DEVICE_HASH_KEY, "+33612345678");
    assert_eq!(identify["traits"]["phone"], stored(&phone_device).as_str());
    assert_eq!(identify["traits"]["plan"], "pro");

    let custom = evs
        .iter()
        .find(|e| e["type"] == "track" && e["event"].as_str().unwrap().ends_with("_custom"));
    assert_eq!(
        custom.expect("custom event")["properties"]["nested"]["ok"],
        true
    );
    let cart = evs
        .iter()
        .find(|e| e["event"] == "add_to_cart")
        .expect("add_to_cart");
    assert_eq!(cart["properties"]["product_id"], "sku-1");
    assert_eq!(cart["properties"]["quantity"], 2);
    assert_eq!(cart["properties"]["price"], 9.5);
    assert!(evs
        .iter()
        .any(|e| e["type"] == "screen" && e["name"] == "Home"));

    let text = serde_json::to_string(&evs).unwrap().to_lowercase();
    for raw in ["user-42", "alice", "example.com", "612345678"] {
        assert!(
            !text.contains(raw),
            "raw identifier {raw:?} reached the collector"
        );
    }
}

/// (b) Revoking analytics purges the queued analytics events and nothing more of
/// that purpose is sent; events of a purpose still granted go out.
fn consent_revoke(lang: Lang) {
    let name = format!("mobile-{}-consent", lang.name());
    let collector = start_collector(&name);
    let data_dir = temp_dir(&format!("{name}-device"));
    let out = lang.run(&["consent", &collector.url, data_dir.to_str().unwrap()]);
    assert!(out.contains_key("DONE"), "{out:?}");
    assert_eq!(
        out["QUEUED_BEFORE"], "7",
        "5 analytics + 1 personalization + the grant's consent record queued"
    );
    assert_eq!(
        out["QUEUED_AFTER"], "2",
        "revoking analytics purged its 5 events; its record replaced the grant's"
    );
    assert_eq!(
        out["QUEUED_AFTER_REFUSED"], "2",
        "analytics events after the revocation are not stored"
    );

    // The program's flushAwait returned with an empty queue and its close() stopped
    // the upload thread before it exited: nothing more can come from it.
    let (evs, records) = split_records(events(&collector, 2));
    assert_eq!(evs.len(), 1, "{evs:#?}");
    assert_eq!(evs[0]["event"], "hide_item");
    assert_eq!(evs[0]["context"]["purpose"], "personalization");
    let analytics: Vec<&Value> = records
        .iter()
        .map(|r| &r["properties"]["analytics"])
        .collect();
    assert_eq!(analytics, [false], "the latest choice's record only");

    // A second process on the same dataDir: the purge reached sled, so none of the
    // 5 revoked events comes back, and the revocation itself was persisted.
    let again = lang.run(&["count", &collector.url, data_dir.to_str().unwrap()]);
    assert_eq!(
        again["QUEUED"], "0",
        "purged events left on disk: {again:?}"
    );
    assert_eq!(again["ANALYTICS"], "false", "{again:?}");
    assert_eq!(again["PERSONALIZATION"], "true", "{again:?}");
    let evs = events(&collector, 2);
    assert_eq!(evs.len(), 2, "nothing more after a restart: {evs:#?}");
}

/// (c) A process that tracked is killed with SIGKILL; a second process on the same
/// dataDir delivers what was left, and the collector ends up with every event once.
fn kill9_then_restart(lang: Lang) {
    let name = format!("mobile-{}-crash", lang.name());
    let collector = start_collector(&name);
    let data_dir = temp_dir(&format!("{name}-device"));
    let dir = data_dir.to_str().unwrap();
    let (sent, left) = (20usize, 7usize);
    let n = sent + left;

    let mut first = lang
        .command(&[
            "crash1",
            &collector.url,
            dir,
            &sent.to_string(),
            &left.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {} program: {e}", lang.name()));
    let stdout = first.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("TRACKED") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(PROGRAM_TIMEOUT).is_err() {
        let _ = first.kill();
        panic!("the first {} process never reported TRACKED", lang.name());
    }
    // The scenario: SIGKILL 500 ms after the last track() returned. The SDK promises
    // durability within its 200 ms sync interval, so the `left` events tracked after
    // the last delivery must survive; the 10 s flush interval has not elapsed and
    // flushAt was not reached, so they are still only on the device.
    std::thread::sleep(Duration::from_millis(500));
    first.kill().expect("SIGKILL the first process");
    let status = first.wait().expect("reap the first process");
    assert!(
        !status.success(),
        "the first process was killed, not exited: {status}"
    );
    let delivered_before = collector
        .feed(0)
        .iter()
        .filter(|r| r["kind"] == "event" && r["value"]["event"] == "crash_event")
        .count();

    let out = lang.run(&["crash2", &collector.url, dir]);
    assert_eq!(out["CONSENT"], "true", "consent survived the kill");
    assert_eq!(delivered_before, sent, "delivered before the kill");
    assert_eq!(
        out["QUEUED_AT_START"],
        left.to_string(),
        "left on the device after SIGKILL"
    );
    assert_eq!(out["QUEUED_AFTER"], "0", "{out:?}");

    let evs = events(&collector, n);
    let mut seqs: Vec<u64> = evs
        .iter()
        .filter(|e| e["event"] == "crash_event")
        .map(|e| e["properties"]["seq"].as_u64().expect("seq"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..n as u64).collect::<Vec<_>>(),
        "every event exactly once"
    );
}

/// (d) Every SeedEvent variant (the generated samples) -> collector -> feed: each
/// event once, its values as sent, its properties valid under
/// docs/schema/events/<name>.json (`cairn_codegen::check_round_trip`).
fn every_seed_event_round_trips(lang: Lang) {
    let name = format!("mobile-{}-roundtrip", lang.name());
    let collector = start_collector(&name);
    let data_dir = temp_dir(&format!("{name}-device"));
    let out = lang.run(&["roundtrip", &collector.url, data_dir.to_str().unwrap()]);
    assert!(out.contains_key("DONE"), "{out:?}");
    let n = cairn_codegen::app_event_names().len();
    assert_eq!(out["TRACKED"], n.to_string(), "one sample per app event");
    let feed: Vec<Value> = events(&collector, n)
        .into_iter()
        .filter(|e| e["anonymousId"] == out["ANONYMOUS_ID"].as_str())
        .collect();
    let problems = cairn_codegen::check_round_trip(&feed).expect("schemas readable");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn kotlin_every_seed_event_round_trips_against_its_schema() {
    every_seed_event_round_trips(Lang::Kotlin);
}

#[test]
fn python_every_seed_event_round_trips_against_its_schema() {
    every_seed_event_round_trips(Lang::Python);
}

#[test]
fn kotlin_events_arrive_with_hashed_ids() {
    hashed_ids(Lang::Kotlin);
}

#[test]
fn kotlin_revoking_consent_purges_and_stops_sending() {
    consent_revoke(Lang::Kotlin);
}

#[test]
fn kotlin_sigkill_then_second_process_delivers_leftovers_once() {
    kill9_then_restart(Lang::Kotlin);
}

#[test]
fn python_events_arrive_with_hashed_ids() {
    hashed_ids(Lang::Python);
}

#[test]
fn python_revoking_consent_purges_and_stops_sending() {
    consent_revoke(Lang::Python);
}

#[test]
fn python_sigkill_then_second_process_delivers_leftovers_once() {
    kill9_then_restart(Lang::Python);
}

/// No Swift compiler exists on this machine kind, so the Swift bindings are generated,
/// parsed (tree-sitter-swift: syntax, not types), their C half (the FFI header the
/// Swift module imports) is compiled, and the committed copy in mobile/bindings/swift
/// must match a fresh generation.
#[test]
fn swift_bindings_generate_and_committed_copy_is_current() {
    let b = bindings();
    let fresh = b.out.join("swift");
    // The header uses clang's nullability qualifiers (as Xcode's clang does); gcc
    // only gets them defined away.
    let includer = fresh.join("check_header.c");
    std::fs::write(
        &includer,
        "#include \"CairnFFI.h\"\nint main(void) { return 0; }\n",
    )
    .unwrap();
    let (cc, extra): (&str, &[&str]) = if Command::new("clang").arg("--version").output().is_ok() {
        ("clang", &["-Wno-nullability-completeness"])
    } else {
        ("cc", &["-D_Nullable=", "-D_Nonnull="])
    };
    let out = Command::new(cc)
        .args(["-fsyntax-only", "-Wall", "-Werror"])
        .args(extra)
        .arg(&includer)
        .output()
        .unwrap_or_else(|e| panic!("run {cc} (gcc is on every machine of this kind): {e}"));
    assert!(
        out.status.success(),
        "CairnFFI.h does not compile with {cc}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&includer).unwrap();
    // Cairn.swift itself: a syntax parse with tree-sitter-swift (from PyPI, in the
    // project's venv), since there is no Swift compiler to type-check it.
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let venv_python = tool(
        "CAIRN_PYTHON",
        &format!("{home}/.cache/cairn/venv/bin/python"),
    );
    require_runs(
        &venv_python,
        "--version",
        "the project venv's python (CAIRN_PYTHON)",
    );
    let parsed = Command::new(&venv_python)
        .arg(manifest_dir().join("tests/swift/parse_swift.py"))
        .arg(fresh.join("Cairn.swift"))
        .output()
        .expect("run parse_swift.py");
    assert!(
        parsed.status.success(),
        "Cairn.swift does not parse:\n{}{}",
        String::from_utf8_lossy(&parsed.stdout),
        String::from_utf8_lossy(&parsed.stderr)
    );
    // The written layer (mobile/swift/CairnTracker.swift): parsed the same way, and
    // every generated method it calls on `tracker.` exists with that first label.
    let layer = manifest_dir().join("swift/CairnTracker.swift");
    let parsed = Command::new(&venv_python)
        .arg(manifest_dir().join("tests/swift/parse_swift.py"))
        .arg(&layer)
        .output()
        .expect("run parse_swift.py");
    assert!(
        parsed.status.success(),
        "CairnTracker.swift does not parse:\n{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let swift = std::fs::read_to_string(fresh.join("Cairn.swift")).expect("Cairn.swift generated");
    let layer = std::fs::read_to_string(&layer).expect("CairnTracker.swift");
    let mut calls = 0;
    for call in layer.split("tracker.").skip(1) {
        let Some((name, rest)) = call.split_once('(') else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let label = rest
            .split_once(':')
            .map(|(l, _)| l)
            .filter(|l| !l.contains(')'));
        let decl = match label {
            Some(l) => format!("open func {name}({l}:"),
            None => format!("open func {name}()"),
        };
        assert!(
            swift.contains(&decl),
            "CairnTracker.swift calls `{decl}`, not generated"
        );
        calls += 1;
    }
    assert!(calls >= 15, "the layer's calls were found ({calls})");
    // The other generated names the layer builds on: its uploader implements the
    // protocol and builds the result cases, its JSON encoder throws InvalidArgument.
    for decl in [
        "open class Tracker",
        "public struct TrackerConfig",
        "public enum SeedEvent",
        "enum CairnError: Swift.Error",
        "case InvalidArgument(message: String)",
        "public protocol HttpUploader",
        "func upload(request: UploadRequest)",
        "public struct UploadRequest",
        "case status(code: Int32, retryAfter: String?",
        "case transport(message: String",
        "public struct ConsentState",
        "public enum Purpose",
    ] {
        assert!(swift.contains(decl), "Cairn.swift lacks `{decl}`");
    }
    // build-ios.sh packs exactly these files; each must exist under these names.
    let script = std::fs::read_to_string(manifest_dir().join("build-ios.sh")).unwrap();
    for (used, file) in [
        ("bindings/swift/Cairn.swift", fresh.join("Cairn.swift")),
        ("bindings/swift/CairnFFI.h", fresh.join("CairnFFI.h")),
        (
            "bindings/swift/CairnFFI.modulemap",
            fresh.join("CairnFFI.modulemap"),
        ),
        (
            "$here/swift/CairnTracker.swift",
            manifest_dir().join("swift/CairnTracker.swift"),
        ),
    ] {
        assert!(script.contains(used), "build-ios.sh no longer takes {used}");
        assert!(
            file.is_file(),
            "{} (taken by build-ios.sh) missing",
            file.display()
        );
    }
    let modulemap = std::fs::read_to_string(fresh.join("CairnFFI.modulemap")).unwrap();
    assert!(
        modulemap.contains("module CairnFFI") && modulemap.contains("header \"CairnFFI.h\""),
        "{modulemap}"
    );
    for file in ["Cairn.swift", "CairnFFI.h", "CairnFFI.modulemap"] {
        let committed = manifest_dir().join("bindings/swift").join(file);
        let committed = std::fs::read_to_string(&committed).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run mobile/generate-bindings.sh and commit",
                committed.display()
            )
        });
        let generated = std::fs::read_to_string(fresh.join(file)).unwrap();
        assert!(
            committed == generated,
            "mobile/bindings/swift/{file} is stale: run mobile/generate-bindings.sh and commit it (library {})",
            b.lib.display()
        );
    }
}

/// A write key the collector refuses never loses data silently (issue 11): flushAwait
/// throws with the refusal, lastError says it, the events stay queued; a second process
/// with the right key on the same data dir delivers them once.
#[test]
fn kotlin_wrong_key_keeps_the_events_and_the_right_key_delivers_them_once() {
    let collector = start_collector("mobile-kotlin-wrong-key");
    let data_dir = temp_dir("mobile-kotlin-wrong-key-device");
    let dir = data_dir.to_str().unwrap();
    let out = Lang::Kotlin.run(&[
        "wrongkey",
        &collector.url,
        dir,
        "wk-unknown-to-the-collector",
    ]);
    assert!(out["FLUSH_ERROR"].contains("401"), "{out:?}");
    assert!(out["LAST_ERROR"].contains("401"), "{out:?}");
    assert_eq!(
        out["QUEUED"], "2",
        "the event and the consent record kept: {out:?}"
    );
    assert!(
        collector.feed(0).is_empty(),
        "nothing stored under a refused key"
    );
    // The key fixed: the same device delivers what it kept, once.
    let out = Lang::Kotlin.run(&["crash2", &collector.url, dir]);
    assert_eq!(out["QUEUED_AT_START"], "2", "{out:?}");
    assert_eq!(out["QUEUED_AFTER"], "0", "{out:?}");
    let evs = events(&collector, 2);
    let kept: Vec<&Value> = evs
        .iter()
        .filter(|e| e["event"] == "kotlin_wrong_key")
        .collect();
    assert_eq!(kept.len(), 1, "{evs:#?}");
}

// --- One person across platforms ---------------------------------------------------------

/// The web tracker's part of `one_person_one_pseudonym_across_platforms`: Chromium opens
/// a page served by the collector, the tracker (wasm/pkg) hashes on the device under the
/// project hash key, identifies `user`, tracks one event carrying `marker` and flushes.
/// Prints the anonymous id.
const WEB_IDENTIFY: &str = r#"
const [playwright, url, writeKey, hashKey, user, marker] = process.argv.slice(1);
const { chromium } = await import(playwright);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(`${url}/demo/one.html`);
  await page.waitForFunction(() => window.cairn);
  const anon = await page.evaluate(async ([writeKey, hashKey, user, marker]) => {
    await cairn.init({ writeKey, hashKey, autoPageViews: false });
    cairn.setConsent({ analytics: true });
    cairn.identify(user, { email: ' Alice@Example.COM ' });
    cairn.track('web_one_person', { marker });
    await cairn.flush();
    return cairn.anonymousId();
  }, [writeKey, hashKey, user, marker]);
  console.log(`ANONYMOUS_ID ${anon}`);
} finally {
  await browser.close();
}
"#;

/// Segment's Python library (PyPI segment-analytics-python), raw ids through a server
/// write key: what a shop's backend sends.
const SEGMENT_PYTHON: &str = r#"
import sys
import segment.analytics as analytics
url, write_key, user, marker = sys.argv[1:5]
errors = []
analytics.write_key = write_key
analytics.host = url
analytics.on_error = lambda e, items: errors.append(repr(e))
analytics.max_retries = 0
analytics.identify(user, {"email": "alice@example.com"})
analytics.track(user, "python_one_person", {"marker": marker})
analytics.flush()
analytics.shutdown()
assert not errors, errors
print("DONE")
"#;

/// One person, one pseudonym, on every path (issue 9): the same user id sent by the web
/// tracker in Chromium and by the generated Kotlin on a JVM (both hashing on the device
/// under the project hash key and saying so in `context.hashed`), and raw by Segment's
/// Python library through a server key, arrives in the feed as one pseudonym, with one
/// e-mail pseudonym. One DELETE by the raw id removes all three paths' events, and the
/// collector's data dir holds none of their bytes afterwards.
#[test]
fn one_person_one_pseudonym_across_web_kotlin_and_segment_python() {
    use cairn_testkit::{
        stored_user_id, ADMIN_KEY, PROJECT_HASH_KEY, SERVER_WRITE_KEY, WRITE_KEY_SOURCE,
    };
    const USER: &str = "user-42"; // what the Kotlin program's `hashed` mode identifies
    let root = manifest_dir()
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let pkg = root.join("wasm/pkg");
    let playwright = root.join("wasm/tests/browser/node_modules/playwright-core/index.mjs");
    assert!(
        pkg.join("cairn_wasm_bg.wasm").exists(),
        "wasm/pkg is missing: run `bash wasm/build.sh`"
    );
    assert!(
        playwright.exists(),
        "playwright-core is missing: {INSTALL_HINT}"
    );
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let segment_python = tool(
        "CAIRN_PYTHON",
        &format!("{home}/.cache/cairn/venv/bin/python"),
    );
    require_runs(&segment_python, "--version", "the project venv's python");

    // The collector serves the web page; a client key for the web source.
    let www = temp_dir("one-person-www");
    std::fs::create_dir_all(www.join("pkg")).unwrap();
    for f in std::fs::read_dir(&pkg).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, www.join("pkg").join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        www.join("one.html"),
        "<!doctype html><script type=module>import * as c from './pkg/cairn.js'; window.cairn = c;</script>",
    )
    .unwrap();
    let data = temp_dir("one-person-collector");
    let collector = CollectorProcess::start(
        cairn_testkit::collector_bin(),
        &data,
        &[
            "--demo-dir",
            www.to_str().unwrap(),
            "--write-key",
            "web-key:source=web",
        ],
    );
    let marker = format!("one-person-{}", std::process::id());

    // 1. The web tracker in Chromium.
    let web = Command::new("node")
        .args(["--input-type=module", "-e", WEB_IDENTIFY])
        .arg(format!("file://{}", playwright.display()))
        .args([
            collector.url.as_str(),
            "web-key",
            PROJECT_HASH_KEY,
            USER,
            &marker,
        ])
        .output()
        .expect("run node");
    assert!(
        web.status.success(),
        "web part failed:\n{}{}",
        String::from_utf8_lossy(&web.stdout),
        String::from_utf8_lossy(&web.stderr)
    );
    // 2. The generated Kotlin on a JVM.
    let device = temp_dir("one-person-kotlin-device");
    let out = Lang::Kotlin.run(&[
        "hashed",
        &collector.url,
        device.to_str().unwrap(),
        PROJECT_HASH_KEY,
    ]);
    assert!(out.contains_key("DONE"), "{out:?}");
    // 3. Segment's Python library, raw ids, a server key.
    let py = Command::new(&segment_python)
        .args([
            "-c",
            SEGMENT_PYTHON,
            &collector.url,
            SERVER_WRITE_KEY,
            USER,
            &marker,
        ])
        .output()
        .expect("run python");
    assert!(
        py.status.success(),
        "Segment's Python library failed:\n{}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );

    let records = collector.wait_for_events(10, Duration::from_secs(30));
    let by_source = |source: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["source"] == source)
            .map(|r| r["value"].clone())
            .collect()
    };
    let (web_events, kotlin_events, python_events) = (
        by_source("web"),
        by_source(WRITE_KEY_SOURCE),
        by_source("test-server"),
    );
    let pseudonym = stored_user_id(USER);
    for (path, events, named) in [
        ("web", &web_events, "web_one_person"),
        ("kotlin", &kotlin_events, "kotlin_custom"),
        ("python", &python_events, "python_one_person"),
    ] {
        assert!(
            events.iter().any(|e| e["event"] == named),
            "{path}: no {named} in {events:#?}"
        );
        let with_user: Vec<&Value> = events
            .iter()
            .filter(|e| e.get("userId").is_some())
            .collect();
        assert!(!with_user.is_empty(), "{path}: no event carries a user");
        for e in with_user {
            assert_eq!(e["userId"], pseudonym.as_str(), "{path}: {e}");
        }
    }
    let email = |events: &[Value]| -> Value {
        events
            .iter()
            .find(|e| e["type"] == "identify")
            .map(|e| e["traits"]["email"].clone())
            .expect("an identify")
    };
    assert_eq!(
        email(&web_events),
        email(&python_events),
        "one e-mail pseudonym"
    );
    assert_eq!(
        email(&kotlin_events),
        email(&python_events),
        "one e-mail pseudonym"
    );

    // One deletion by the raw id removes every path's events.
    let response = collector
        .client()
        .delete(format!("{}/v1/users/{USER}", collector.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("DELETE");
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().unwrap();
    let total = web_events.len() + kotlin_events.len() + python_events.len();
    assert_eq!(answer["deletedEvents"], total as u64, "{answer}");
    let left: Vec<Value> = collector
        .feed(0)
        .into_iter()
        .filter(|r| r["kind"] == "event")
        .collect();
    assert_eq!(left, Vec::<Value>::new(), "events left in the feed");
    let mut hits = Vec::new();
    for needle in [
        marker.as_str(),
        "kotlin_custom",
        "web_one_person",
        "python_one_person",
    ] {
        hits.extend(files_containing(&data, needle.as_bytes()));
    }
    assert_eq!(
        hits,
        Vec::<PathBuf>::new(),
        "deleted events' bytes are still on disk"
    );
}

// --- HTTPS through the platform's own stack, and the core's rules on failures ---------

/// (e) The layer's own uploader (HttpURLConnection / urllib) over HTTPS to the
/// collector behind the test's TLS-terminating proxy, trusting the test CA the
/// runtime's own way. The proxy answers the first request 503 + `Retry-After: 2`,
/// the second 413, forwards the third and drops the connection before answering,
/// and forwards everything after. The core's rules: the retry waits out Retry-After;
/// 413 halves the batch; a dropped connection is a transport error and the same
/// batch is sent again; every event reaches the feed once.
fn https_through_faults(lang: Lang) {
    const N: usize = 10;
    let name = format!("mobile-{}-https", lang.name());
    let collector = start_collector(&name);
    let ca_dir = temp_dir(&format!("{name}-ca"));
    let ca = TestCa::create(&ca_dir);
    let script = vec![
        Answer::Status {
            code: 503,
            retry_after: Some("2"),
        },
        Answer::Status {
            code: 413,
            retry_after: None,
        },
        Answer::ForwardThenDrop,
    ];
    let proxy = TlsProxy::start(&ca, &collector.url, script);
    let data_dir = temp_dir(&format!("{name}-device"));
    let out = lang.run_trusting(
        &[
            "https",
            &proxy.url,
            data_dir.to_str().unwrap(),
            &N.to_string(),
        ],
        Some(&ca),
    );
    assert!(out.contains_key("DONE"), "{out:?}");
    assert!(
        out.contains_key("FLUSH_FAILED"),
        "failed attempts surface: {out:?}"
    );

    let seen = proxy.seen();
    let all = N + 1; // with the consent record
    assert!(
        seen.len() >= 5,
        "503, 413, dropped, its retry, the rest: {seen:#?}"
    );
    assert_eq!(seen[0].message_ids.len(), all, "one batch first: {seen:#?}");
    let waited = seen[1].received.duration_since(seen[0].answered);
    assert!(
        waited >= Duration::from_millis(1_900),
        "Retry-After: 2 honoured, retried after {waited:?}"
    );
    assert_eq!(
        seen[1].message_ids, seen[0].message_ids,
        "the same batch after a 503"
    );
    let half = &seen[2].message_ids;
    assert!(
        half.len() == all / 2 || half.len() == all.div_ceil(2),
        "413 halved the batch of {all}: {} events",
        half.len()
    );
    assert!(half.iter().all(|id| seen[1].message_ids.contains(id)));
    assert_eq!(seen[2].answer, Answer::ForwardThenDrop);
    assert_eq!(
        &seen[3].message_ids, half,
        "the dropped batch is sent again"
    );

    let evs = events(&collector, all);
    let mut seqs: Vec<u64> = evs
        .iter()
        .filter(|e| e["event"] == "https_event")
        .map(|e| e["properties"]["seq"].as_u64().expect("seq"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..N as u64).collect::<Vec<_>>(), "every event once");
    let nested = evs.iter().find(|e| e["event"] == "https_event").unwrap();
    assert!(nested["properties"]["cart"]["items"].is_array(), "{nested}");
}

#[test]
fn kotlin_over_https_retry_after_413_and_a_dropped_connection_deliver_once() {
    https_through_faults(Lang::Kotlin);
}

#[test]
fn python_over_https_retry_after_413_and_a_dropped_connection_deliver_once() {
    https_through_faults(Lang::Python);
}

/// (f) No network and no disk sync on the caller's thread: the Kotlin program holds
/// the first upload inside its uploader; track, onBackground (the fsync), setConsent
/// (the purge) and flush all return while it is held, and the upload ran on the
/// library's thread, not the caller's nor the layer's hand-off thread.
#[test]
fn kotlin_calls_return_while_an_upload_is_held_on_the_library_thread() {
    let collector = start_collector("mobile-kotlin-threads");
    let data_dir = temp_dir("mobile-kotlin-threads-device");
    let out = Lang::Kotlin.run(&["threads", &collector.url, data_dir.to_str().unwrap()]);
    assert!(out.contains_key("DONE"), "{out:?}");
    assert_eq!(out["CALLS_RETURNED_WHILE_UPLOAD_HELD"], "true");
    let (caller, upload) = (&out["CALLER_THREAD"], &out["UPLOAD_THREAD"]);
    assert_eq!(caller, "main");
    assert!(
        upload != caller && upload != "cairn-handoff" && !upload.is_empty(),
        "upload ran on {upload:?}"
    );
    let evs = events(&collector, 4);
    let held: Vec<&Value> = evs.iter().filter(|e| e["event"] == "while_held").collect();
    assert_eq!(held.len(), 1, "{evs:#?}");
    assert!(evs.iter().any(|e| e["event"] == "app_backgrounded"));
    assert!(evs.iter().any(|e| e["event"] == "app_opened"));
}

/// The Kotlin layer's hand-off batches consecutive `track` calls (`trackMany`) and
/// consecutive `trackEvent` calls (`trackEvents`), never both at once, so the library
/// stores every call in the order it was made: runs of each kind with `screen` calls
/// between them arrive in the collector's feed in call order (one upload, one batch).
/// A `trackEvent` the library refuses (over 32 KB) inside a run is the error of its
/// crossing, and the events before and after it in that crossing are still stored.
#[test]
fn kotlin_track_and_track_event_batches_keep_call_order() {
    let collector = start_collector("mobile-kotlin-order");
    let data_dir = temp_dir("mobile-kotlin-order-device");
    let out = Lang::Kotlin.run(&["order", &collector.url, data_dir.to_str().unwrap()]);
    assert!(out.contains_key("DONE"), "{out:?}");
    let n: u64 = out["TRACKED"].parse().unwrap();
    let last_error = &out["LAST_ERROR"];
    assert!(
        last_error.contains("byte limit"),
        "the oversized event is the error: {last_error}"
    );
    let evs = events(&collector, n as usize);
    let seqs: Vec<u64> = evs
        .iter()
        .filter_map(|e| e["properties"]["seq"].as_u64())
        .collect();
    assert_eq!(
        seqs,
        (0..n).collect::<Vec<_>>(),
        "every call once, in call order"
    );
    let tracked = |name: &str| evs.iter().filter(|e| e["event"] == name).count();
    assert!(
        tracked("order_custom") > 0 && tracked("click") > 0,
        "{evs:#?}"
    );
    let screens = evs.iter().filter(|e| e["type"] == "screen").count();
    assert_eq!(screens, 4, "{evs:#?}");
}

/// A SeedEvent number out of range throws at the call without a crossing into the
/// library (the Kotlin layer checks the ranges with code cairn-codegen writes from the
/// event table): on every sample both checks accept, and on every number of every
/// variant set out of range (below its minimum, above its maximum, NaN, infinity), the
/// Kotlin check and the library's `checkSeedEvent` refuse with the same message.
#[test]
fn kotlin_seed_event_ranges_are_checked_in_kotlin_exactly_as_in_the_library() {
    let out = Lang::Kotlin.run(&["ranges"]);
    assert!(out.contains_key("DONE"), "{out:?}");
    let good: usize = out["GOOD"].parse().unwrap();
    let bad: usize = out["BAD"].parse().unwrap();
    assert_eq!(good, cairn_codegen::app_event_names().len());
    assert!(bad >= 100, "{bad} out-of-range cases");
    assert_eq!(
        out["EXAMPLE"],
        "invalid argument: price is NaN, not a number >= 0"
    );
}

/// One line of `strace -f` output: (thread id, system call, the line), for the
/// lines that start a call (not the `<... resumed>` halves).
fn strace_calls(trace: &str) -> Vec<(String, String, String)> {
    trace
        .lines()
        .filter_map(|l| {
            let (tid, rest) = l.split_once(' ')?;
            let rest = rest.trim_start();
            if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
                return None;
            }
            let (name, _) = rest.split_once('(')?;
            Some((tid.to_string(), name.to_string(), l.to_string()))
        })
        .collect()
}

/// (f) No disk sync and no network on the app's thread, as the kernel saw it: the
/// program makes every call of the layer on its main thread (setConsent twice, one a
/// revocation with its purge, track, trackEvent, identify, onBackground with its fsync,
/// flush, reset, reads, flushAndWait, close) under `strace -f`, with every sync call
/// delayed by 100 ms (a slow disk: strace's fault injection). Checked on the trace: no
/// sync call and no TCP connect on the caller's thread (nor on Kotlin's `cairn-handoff`);
/// the dispatcher (`cairn-dispatcher`, cut by the kernel to 15 bytes) synced (sled adds
/// its own `sled-io-*` threads), and every TCP connect ran on `cairn-uploader`. Python
/// calls the library on the caller's own thread, as Swift does, so its run checks the
/// library's promise itself; Kotlin's checks the layer's. strace is a real tracer of the
/// real process, not a stand-in.
fn no_sync_or_network_on_the_callers_thread(lang: Lang) {
    let strace = tool("CAIRN_STRACE", "strace");
    let ok = Command::new(&strace)
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "strace not found at `{}`: apt-get install strace (or set CAIRN_STRACE)",
        strace.display()
    );
    let name = format!("mobile-{}-syscalls", lang.name());
    let collector = start_collector(&name);
    let data_dir = temp_dir(&format!("{name}-device"));
    let trace_dir = temp_dir(&format!("{name}-trace"));
    let trace_file = trace_dir.join("strace.txt");
    let args = ["syscalls", &collector.url, data_dir.to_str().unwrap()];
    let inner = lang.command(&args);
    let mut traced = Command::new(&strace);
    traced
        .args(["-f", "--seccomp-bpf", "-qq", "-e", "signal=none"])
        .args([
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,msync,connect",
        ])
        .args([
            "-e",
            "inject=fsync,fdatasync,sync_file_range:delay_enter=100000",
        ])
        .arg("-o")
        .arg(&trace_file)
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            traced.env(k, v);
        }
    }
    let out = lang.run_command(traced, &args);
    assert!(out.contains_key("DONE"), "{out:?}");
    let trace = std::fs::read_to_string(&trace_file).expect("strace output");
    let caller = &out["CALLER_TID"];
    let names: BTreeMap<&str, &str> = out["THREADS"]
        .split(';')
        .filter_map(|t| t.split_once(':'))
        .collect();
    let name = |tid: &str| {
        names
            .get(tid)
            .copied()
            .unwrap_or("(ended before the listing)")
    };
    let calls = strace_calls(&trace);
    let syncs: Vec<_> = calls.iter().filter(|(_, c, _)| c != "connect").collect();
    // TCP only: the JVM itself asks nscd over a Unix socket at start-up.
    let tcp: Vec<_> = calls
        .iter()
        .filter(|(_, c, l)| c == "connect" && l.contains("AF_INET"))
        .collect();
    for (tid, call, line) in syncs.iter().chain(&tcp) {
        assert!(
            tid != caller && name(tid) != "cairn-handoff",
            "{call} on the app's side ({} {tid}): {line}\n{trace}",
            name(tid)
        );
    }
    assert!(
        syncs
            .iter()
            .any(|(t, _, _)| name(t).starts_with("cairn-dispatch")),
        "the dispatcher synced the queue:\n{trace}"
    );
    assert!(!tcp.is_empty(), "the events were uploaded:\n{trace}");
    for (tid, _, line) in &tcp {
        assert_eq!(name(tid), "cairn-uploader", "{line}");
    }
    let by_thread = |calls: &[&(String, String, String)]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for (t, _, _) in calls {
            *m.entry(name(t).to_string()).or_default() += 1;
        }
        m
    };
    eprintln!(
        "{}: syncs by thread: {:?}; TCP connects by thread: {:?}; caller {caller}",
        lang.name(),
        by_thread(&syncs),
        by_thread(&tcp)
    );
    let evs = events(&collector, 6);
    assert!(
        evs.iter().any(|e| e["event"] == "syscalls_custom"),
        "{evs:#?}"
    );
}

#[test]
fn kotlin_no_sync_or_network_on_the_callers_thread_seen_by_strace() {
    no_sync_or_network_on_the_callers_thread(Lang::Kotlin);
}

#[test]
fn python_no_sync_or_network_on_the_callers_thread_seen_by_strace() {
    no_sync_or_network_on_the_callers_thread(Lang::Python);
}

/// `jar tf FILE` (the JDK's jar reads any zip, an .aar included): the entry names.
fn zip_entries(file: &Path) -> Vec<String> {
    let out = Command::new("jar")
        .arg("tf")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run jar (the JDK's) on {}: {e}", file.display()));
    assert!(out.status.success(), "jar tf {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The Android packaging of build-android.sh, run for real with this run's host library
/// standing in for the NDK builds (`--package-only`: no NDK here, so step 1, cargo-ndk,
/// is the one part not run): bindings generated from the library in jniLibs, every
/// file of the Kotlin layer (the generated SeedEventChecks.kt included) compiled with
/// `-jvm-target 1.8` into classes.jar, and the .aar with its manifest, R.txt and the
/// library under jni/<abi>/. Keeps the script in step with the crate and the layer.
#[test]
fn android_aar_packaging_step_runs_with_the_current_crate_layout() {
    let b = bindings();
    kotlin(); // the tools, checked with their install hints
    let dir = temp_dir("mobile-android-package");
    let jni = dir.join("jni/x86_64");
    std::fs::create_dir_all(&jni).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&b.lib, jni.join("libcairn_mobile.so")).unwrap();
    let out_dir = dir.join("out");
    let bindgen = option_env!("CARGO_BIN_EXE_uniffi-bindgen").unwrap_or_else(|| {
        panic!("uniffi-bindgen was not built: run `cargo test -p cairn-mobile --all-features`")
    });
    let run = Command::new("bash")
        .arg(manifest_dir().join("build-android.sh"))
        .arg("--package-only")
        .arg(dir.join("jni"))
        .arg(&out_dir)
        .env("UNIFFI_BINDGEN", bindgen)
        .output()
        .expect("run build-android.sh");
    assert!(
        run.status.success(),
        "build-android.sh --package-only failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // The Kotlin sources a Gradle module would take: the bindings and the whole layer.
    let layer = manifest_dir().join("kotlin/dev/cairn");
    for f in kotlin_sources(&layer)
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .chain([std::ffi::OsString::from("cairn_mobile.kt")])
    {
        let copied = out_dir.join("kotlin/dev/cairn").join(&f);
        assert!(copied.is_file(), "{} missing", copied.display());
    }
    let aar = out_dir.join(format!("cairn-mobile-{}.aar", env!("CARGO_PKG_VERSION")));
    let entries = zip_entries(&aar);
    for want in [
        "AndroidManifest.xml",
        "classes.jar",
        "R.txt",
        "jni/x86_64/libcairn_mobile.so",
    ] {
        assert!(entries.iter().any(|e| e == want), "{want} in {entries:?}");
    }
    let unpacked = dir.join("aar");
    std::fs::create_dir_all(&unpacked).unwrap();
    let x = Command::new("jar")
        .arg("xf")
        .arg(&aar)
        .args(["classes.jar", "AndroidManifest.xml"])
        .current_dir(&unpacked)
        .status()
        .expect("jar xf");
    assert!(x.success());
    let manifest = std::fs::read_to_string(unpacked.join("AndroidManifest.xml")).unwrap();
    assert!(
        manifest.contains("android:minSdkVersion=\"24\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("android.permission.INTERNET"),
        "{manifest}"
    );
    let classes = zip_entries(&unpacked.join("classes.jar"));
    for class in [
        "Cairn",
        "CairnJson",
        "HttpUrlUploader",
        "SeedEventChecksKt",
        "Tracker",
        "SeedEvent",
        "HttpUploader",
    ] {
        let entry = format!("dev/cairn/{class}.class");
        assert!(classes.contains(&entry), "{entry} in classes.jar");
    }
    // Java 8 bytecode (class file major version 52), which every Android toolchain reads.
    let x = Command::new("jar")
        .arg("xf")
        .arg(unpacked.join("classes.jar"))
        .arg("dev/cairn/Cairn.class")
        .current_dir(&unpacked)
        .status()
        .expect("jar xf");
    assert!(x.success());
    let class = std::fs::read(unpacked.join("dev/cairn/Cairn.class")).unwrap();
    assert_eq!(&class[..4], &[0xca, 0xfe, 0xba, 0xbe]);
    assert_eq!(
        u16::from_be_bytes([class[6], class[7]]),
        52,
        "class file version"
    );
}
