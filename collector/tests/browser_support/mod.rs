//! What the browser-SDK tests (rudderstack_browser, segment_browser) share: the check
//! that Chromium, node and the npm packages are there (anything missing fails the test
//! with the command that installs it: never skipped), running a script of tests/clients
//! under node while obeying its `cmd:kill9` / `cmd:restart` lines (tests/clients/
//! browser_support.mjs is the other side), and the checks on its report: nothing left
//! loopback, every call's event in the feed exactly once, every preflight answered with
//! the headers it asked for, no raw identifier in the data dir.

#![allow(dead_code)]

use std::{
    collections::{BTreeSet, HashMap},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use cairn_testkit::{files_containing, temp_dir, CollectorProcess};
use serde_json::Value;

pub const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (it installs chromium and \
     runs `npm ci` in collector/tests/clients)";

pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Chromium's path (`CHROMIUM`, default /usr/bin/chromium) once it, node and `packages`
/// (installed in tests/clients/node_modules) are there; otherwise fails `test` with the
/// install command.
pub fn require_browser(test: &str, packages: &[&str]) -> String {
    let require = |ok: bool, what: &str| {
        assert!(ok, "the {test} test cannot run: {what}; {INSTALL_HINT}");
    };
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        Path::new(&chromium).exists(),
        &format!("{chromium} is missing (apt-get install chromium, or set CHROMIUM)"),
    );
    for package in packages.iter().chain(&["playwright-core"]) {
        require(
            clients_dir().join("node_modules").join(package).is_dir(),
            &format!("{package} is not installed in {}", clients_dir().display()),
        );
    }
    require(
        Command::new("node").arg("--version").output().is_ok(),
        "node is not on PATH",
    );
    chromium
}

/// Runs `node tests/clients/<script> <collector url> <args...>`, killing (-9) and
/// restarting `collector` when the script asks; returns its report (its last stdout
/// line), failing the test when the script failed.
pub fn run_script(
    collector: &mut CollectorProcess,
    chromium: &str,
    script: &str,
    args: &[&str],
) -> Value {
    let mut node = Command::new("node")
        .arg(clients_dir().join(script))
        .arg(&collector.url)
        .args(args)
        .current_dir(clients_dir())
        .env("CHROMIUM", chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {INSTALL_HINT}"));
    let mut stdin = node.stdin.take().expect("piped stdin");
    let stdout = BufReader::new(node.stdout.take().expect("piped stdout"));
    let mut last = String::new();
    for line in stdout.lines().map_while(Result::ok) {
        match line.as_str() {
            "cmd:kill9" => collector.kill9(),
            "cmd:restart" => collector.restart(),
            _ => {
                last = line;
                continue;
            }
        }
        writeln!(stdin, "ok").expect("answer the browser script");
    }
    let status = node.wait().expect("wait for node");
    let report: Value = serde_json::from_str(&last)
        .unwrap_or_else(|_| panic!("no report from {script} ({status}): {last}"));
    assert!(
        status.success() && report.get("error").is_none(),
        "{script} failed ({status}): {}\nbrowser console errors (a refused preflight shows \
         here as 'blocked by CORS policy'): {:#}\nreport: {report:#}",
        report["error"].as_str().unwrap_or(""),
        report["consoleErrors"]
    );
    println!("{script}: {report}");
    report
}

/// A browser SDK from npm as the tests pin it.
pub struct Sdk {
    /// The test's name in messages.
    pub test: &'static str,
    pub package: &'static str,
    /// The pinned version's prefix, e.g. "3.34.".
    pub version: &'static str,
    /// `context.library.name` on its events.
    pub library: &'static str,
}

impl Sdk {
    /// Starts a collector in a new `dir` and runs `script` (with `args`) with the SDK
    /// against it; checks what every run must show: the pinned version, and a page that
    /// stayed offline and posted cross-origin. Returns the collector and the report.
    pub fn run(&self, dir: &str, script: &str, args: &[&str]) -> (CollectorProcess, Value) {
        let chromium = require_browser(self.test, &[self.package]);
        let mut collector =
            CollectorProcess::start(env!("CARGO_BIN_EXE_cairn-collector"), temp_dir(dir), &[]);
        let report = run_script(&mut collector, &chromium, script, args);
        assert!(
            report["version"]
                .as_str()
                .unwrap_or("")
                .starts_with(self.version),
            "{} {}x: {}",
            self.package,
            self.version,
            report["version"]
        );
        check_offline_cross_origin(&report);
        (collector, report)
    }

    /// What the SDK puts on every event in the feed, whatever the call and however it
    /// was sent: its library name and the four timestamps.
    pub fn check_stamped(&self, label: &str, event: &Value) {
        assert_eq!(
            event["context"]["library"]["name"], self.library,
            "{label}: {event:#}"
        );
        for field in ["timestamp", "receivedAt", "originalTimestamp", "sentAt"] {
            assert!(
                event[field].is_string(),
                "{label}: {field} stamped: {event:#}"
            );
        }
    }
}

/// Nothing left loopback, no error on a page, and the page was on another origin than
/// the collector (so every post was cross-origin).
pub fn check_offline_cross_origin(report: &Value) {
    assert_eq!(
        report["offLoopback"].as_array().map(Vec::len),
        Some(0),
        "requests that left loopback: {}",
        report["offLoopback"]
    );
    assert_eq!(
        report["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "errors on the page: {}",
        report["pageErrors"]
    );
    assert_ne!(
        report["pageOrigin"], report["collectorOrigin"],
        "the page and the collector must be on different origins"
    );
}

/// A header list (`Access-Control-*-Headers`) as lower-case names.
pub fn str_list(value: &Value) -> BTreeSet<String> {
    value
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Every call of every session, with its session.
pub fn calls(report: &Value) -> Vec<(&Value, &Value)> {
    report["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .flat_map(|s| {
            s["calls"]
                .as_array()
                .expect("calls")
                .iter()
                .map(move |c| (s, c))
        })
        .collect()
}

/// The feed once it holds as many events as `calls`: exactly one event per call's
/// messageId (a retried post is not a duplicate), keyed by it, with the call's type and
/// the session's anonymousId. Returns each call's event, in the order of `calls`.
pub fn feed_events(collector: &CollectorProcess, calls: &[(&Value, &Value)]) -> Vec<Value> {
    let records = collector.wait_for_events(calls.len(), Duration::from_secs(30));
    let mut feed: HashMap<&str, Vec<&Value>> = HashMap::new();
    for record in &records {
        let key = record["key"].as_str().expect("record key");
        assert_eq!(
            record["value"]["messageId"], key,
            "record key is the messageId"
        );
        feed.entry(key).or_default().push(&record["value"]);
    }
    assert_eq!(
        records.len(),
        calls.len(),
        "the feed holds exactly the calls' events: {records:#?}"
    );
    calls
        .iter()
        .map(|(session, call)| {
            let label = format!("{} {}", session["name"], call["call"]);
            let id = call["messageId"].as_str().expect("messageId");
            let events = feed.get(id).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(
                events.len(),
                1,
                "{label}: {id} in the feed {} times",
                events.len()
            );
            let event = events[0];
            assert_eq!(event["type"], call["type"], "{label}: {event:#}");
            assert_eq!(
                event["anonymousId"], session["anonymousId"],
                "{label}: {event:#}"
            );
            event.clone()
        })
        .collect()
}

/// The preflights as Chromium saw them (except those that met a killed collector, and
/// those of a session whose page was left before their answer came, `pageLeft`):
/// answered 2xx with origin `*`, allowing every header asked for; and each post's
/// `sdk_headers` were allowed by a preflight of its path. Returns the header names the
/// preflights asked for, and how many were answered.
pub fn check_preflights(report: &Value, sdk_headers: &[&str]) -> (BTreeSet<String>, usize) {
    let mut asked = BTreeSet::new();
    let mut answered = 0;
    for session in report["sessions"].as_array().expect("sessions") {
        let name = &session["name"];
        let preflights = session["preflights"].as_array().expect("preflights");
        for p in preflights {
            if p["whileDown"] == true && p["failure"].is_string() {
                // Sent to the killed collector: refused at the socket, retried later.
                continue;
            }
            if session["pageLeft"] == true && p["status"].is_null() && p["failure"].is_null() {
                // Its page was left while it ran: DevTools no longer reports its answer
                // (the event in the feed shows the post, and so the preflight, went on).
                continue;
            }
            answered += 1;
            let status = p["status"].as_u64().unwrap_or(0);
            assert!(
                (200..300).contains(&status),
                "{name}: preflight of {} answered {status}: {p}",
                p["path"]
            );
            assert_eq!(p["allowOrigin"], "*", "{name}: {p}");
            let allowed = str_list(&p["allowHeaders"]);
            for h in str_list(&p["requestHeaders"]) {
                assert!(allowed.contains(&h), "{name}: {h} asked, not allowed: {p}");
                asked.insert(h);
            }
        }
        for post in session["posts"].as_array().expect("posts") {
            if session["pageLeft"] == true && post["status"].is_null() {
                continue; // aborted for the page that was left: as above
            }
            let sent: BTreeSet<String> = post["headers"]
                .as_object()
                .expect("post headers")
                .keys()
                .map(|k| k.to_ascii_lowercase())
                .filter(|k| sdk_headers.contains(&k.as_str()))
                .collect();
            let allowed: BTreeSet<String> = preflights
                .iter()
                .filter(|p| p["path"] == post["path"])
                .flat_map(|p| str_list(&p["allowHeaders"]))
                .collect();
            let missing: Vec<_> = sent.difference(&allowed).collect();
            assert!(
                missing.is_empty(),
                "{name}: {} sent {missing:?} that no preflight allowed",
                post["path"]
            );
        }
    }
    (asked, answered)
}

/// The paths the sessions posted to.
pub fn post_paths(report: &Value) -> BTreeSet<String> {
    report["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .flat_map(|s| s["posts"].as_array().expect("posts"))
        .filter_map(|p| p["path"].as_str().map(str::to_owned))
        .collect()
}

/// None of `raw` (identifiers the collector must pseudonymise) is in any file of `dir`.
pub fn assert_not_raw(dir: &Path, raw: &[&str]) {
    for raw in raw {
        let hits = files_containing(dir, raw.as_bytes());
        assert!(hits.is_empty(), "raw {raw:?} in the data dir: {hits:?}");
    }
}
