//! The README's run command from a fresh clone: `bash scripts/run.sh` comes up with
//! its one banner, and `/` and `/demo` lead to the demo shop. The clone is made from
//! this checkout's last commit. It builds into a target dir of its own, kept beside
//! the workspace's (so the binaries other tests run are never replaced under them,
//! and a second run is incremental), with `CAIRN_PROFILE=dev` (a release build takes
//! minutes on two cores). The time to the banner is reported, not asserted.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_e2e::*;

/// Ends the script's whole process group (bash, tee and the collector) on drop.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// `<target dir>/run-command`: the workspace's target dir is two levels above this
/// test executable (`<target>/debug/deps/e2e-...`).
fn clone_target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<test>")
        .join("run-command")
}

#[test]
fn run_command_from_a_fresh_clone_shows_the_banner_and_the_demo() {
    let dir = temp_dir("run-command");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let clone = dir.join("clone");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(&root)
        .arg(&clone)
        .status()
        .expect("git clone");
    assert!(status.success(), "git clone of the checkout failed");

    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg("scripts/run.sh")
        .current_dir(&clone)
        .env("CAIRN_LISTEN", "127.0.0.1:0")
        .env("CAIRN_DATA_DIR", dir.join("data"))
        .env("CAIRN_PROFILE", "dev")
        .env("CAIRN_RECO_LISTEN", "127.0.0.1:0")
        .env("CAIRN_RECO_DATA_DIR", dir.join("reco-data"))
        .env("CARGO_TARGET_DIR", clone_target_dir())
        .env_remove("CAIRN_WRITE_KEYS")
        .env_remove("CAIRN_READ_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start scripts/run.sh");
    let stdout = child.stdout.take().expect("stdout");
    let _group = Group(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(900);
    while !output
        .iter()
        .any(|l: &String| l.trim().starts_with("stop "))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => output.push(line),
            Err(e) => panic!("no banner ({e}); output so far:\n{}", output.join("\n")),
        }
    }
    println!(
        "run.sh from a fresh clone: banner after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let text = output.join("\n");
    let field = |name: &str| {
        output
            .iter()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no '{name}' line in the banner:\n{text}"))
    };
    let demo = field("demo shop");
    assert!(
        demo.starts_with("http://127.0.0.1:") && demo.ends_with("/demo/"),
        "{text}"
    );
    let base = demo.trim_end_matches("/demo/").to_string();
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("data/keys.json")).expect("keys.json"))
            .expect("keys.json is JSON");
    let read_key = keys["readKey"].as_str().expect("a read key was generated");
    assert!(field("read key").starts_with(read_key), "{text}");
    assert!(field("feed").contains(read_key), "{text}");
    assert!(
        output.len() < 25,
        "the run command's output stays short:\n{text}"
    );

    let http = cairn_testkit::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    for path in ["/", "/demo"] {
        let r = http.get(format!("{base}{path}")).send().expect("GET");
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            "/demo/",
            "{path} leads to the demo"
        );
    }
    let page = http.get(&demo).send().expect("GET /demo/");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("shop.js"));
    let tracker = http.get(format!("{demo}pkg/cairn.js")).send().unwrap();
    assert_eq!(
        tracker.status().as_u16(),
        200,
        "the tracker was built and is served"
    );
}
