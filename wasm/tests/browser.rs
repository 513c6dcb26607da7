//! The web tracker in a real browser: runs tests/browser/run.mjs (playwright-core
//! driving Debian's headless Chromium) against two real collector processes. The
//! first serves the test page and wasm/pkg at /demo/ and is the endpoint; the second
//! is the endpoint the "collector down" case kills (-9) and restarts on the same port.
//!
//! The round-trip case calls every generated helper; this harness checks the feed it
//! produced against the per-event JSON Schemas (`cmd:roundtrip <anonymousId>`).
//!
//! Needs: `bash wasm/build.sh` (wasm/pkg), `npm ci` in wasm/tests/browser, chromium,
//! node, and the collector binary (`cargo build -p cairn-collector`). Any of them
//! missing fails the test with the command that fixes it; nothing is skipped.
#![cfg(not(target_arch = "wasm32"))]

use cairn_testkit::{collector_bin, temp_dir, CollectorProcess, READ_KEY, WRITE_KEY};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The events of `anonymous_id` in `collector`'s feed, checked by
/// `cairn_codegen::check_round_trip` (every app event once, values as sent, valid
/// under its committed schema).
fn check_round_trip(collector: &CollectorProcess, anonymous_id: &str) -> Vec<String> {
    let feed: Vec<serde_json::Value> = collector
        .feed(0)
        .into_iter()
        .filter(|r| r["kind"] == "event" && r["value"]["anonymousId"] == anonymous_id)
        .map(|r| r["value"].clone())
        .collect();
    cairn_codegen::check_round_trip(&feed).expect("schemas readable")
}

fn require(ok: bool, what: &str) {
    assert!(ok, "browser tests cannot run: {what}");
}

#[test]
fn web_tracker_in_headless_chromium() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite = here.join("tests/browser");
    let pkg = here.join("pkg");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        pkg.join("cairn_wasm_bg.wasm").exists() && pkg.join("cairn.js").exists(),
        "wasm/pkg is missing: run `bash wasm/build.sh`",
    );
    require(
        suite.join("node_modules/playwright-core").exists(),
        "wasm/tests/browser/node_modules is missing: run `npm ci` there (scripts/install-test-deps.sh does)",
    );
    require(
        Path::new(&chromium).exists(),
        &format!("{chromium} is missing: apt-get install chromium (or set CHROMIUM)"),
    );
    require(
        Command::new("node").arg("--version").output().is_ok(),
        "node is not on PATH",
    );

    let www = temp_dir("web-www");
    for page in ["test.html", "auto.html"] {
        std::fs::copy(suite.join("pages").join(page), www.join(page)).unwrap();
    }
    copy_dir(&pkg, &www.join("pkg"));
    let demo = www.to_str().unwrap();
    let a = CollectorProcess::start(collector_bin(), temp_dir("web-a"), &["--demo-dir", demo]);
    let mut b = CollectorProcess::start(collector_bin(), temp_dir("web-b"), &[]);

    let started = Instant::now();
    let mut cmd = Command::new("node");
    // One case only when asked for here, never by a CAIRN_CASE left in the environment.
    match std::env::var("CAIRN_BROWSER_CASE") {
        Ok(case) => cmd.env("CAIRN_CASE", case),
        Err(_) => cmd.env_remove("CAIRN_CASE"),
    };
    let mut node = cmd
        .arg(suite.join("run.mjs"))
        .current_dir(&suite)
        .env("CAIRN_A", &a.url)
        .env("CAIRN_B", &b.url)
        .env("CAIRN_READ_KEY", READ_KEY)
        .env("CAIRN_WRITE_KEY", WRITE_KEY)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let mut stdin = node.stdin.take().unwrap();
    let stdout = BufReader::new(node.stdout.take().unwrap());
    let mut round_trip: Option<Vec<String>> = None;
    for line in stdout.lines().map_while(Result::ok) {
        match line.as_str() {
            "cmd:kill9" => b.kill9(),
            "cmd:restart" => b.restart(),
            other if other.starts_with("cmd:roundtrip ") => {
                let problems = check_round_trip(&a, &other["cmd:roundtrip ".len()..]);
                let reply = if problems.is_empty() { "ok" } else { "failed" };
                round_trip = Some(problems);
                writeln!(stdin, "{reply}").unwrap();
                continue;
            }
            other => {
                println!("{other}");
                continue;
            }
        }
        writeln!(stdin, "ok").unwrap();
    }
    let status = node.wait().expect("wait for node");
    eprintln!("browser suite: {:.1} s", started.elapsed().as_secs_f64());
    if let Some(problems) = &round_trip {
        assert!(problems.is_empty(), "JS round trip: {problems:#?}");
    }
    assert!(
        status.success(),
        "browser tests failed (see FAIL lines above)"
    );
    let filtered = std::env::var("CAIRN_BROWSER_CASE").is_ok();
    assert!(
        filtered || round_trip.is_some(),
        "the round-trip case never asked for its check"
    );
    drop(a);
}
