//! Starting the real binary: one collector per data dir, "listening" only once ready,
//! the environment variables in `--help`, and the demo's routes (`/`, `/demo`, and the
//! visitor's events).

mod api_support;

use std::process::{Command, Stdio};

use api_support::*;
use cairn_testkit::{http_client, temp_dir, CollectorProcess, TempDir};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cairn-collector");

#[test]
fn a_second_collector_on_a_live_data_dir_is_refused_and_the_first_keeps_serving() {
    let first = start("startup-lock", &[]);
    let keys_before = std::fs::read(first.data_dir.join("keys.json")).expect("keys.json");
    // No keys given: this second instance would generate and keep new ones.
    let second = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&first.data_dir)
        .env("CAIRN_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run a second collector");
    let stdout = String::from_utf8_lossy(&second.stdout);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains(&first.data_dir.display().to_string())
            && stderr.contains(&format!("pid {}", first.pid())),
        "the message names the dir and the holder: {stderr}"
    );
    assert_eq!(
        std::fs::read(first.data_dir.join("keys.json")).unwrap(),
        keys_before,
        "keys.json is untouched"
    );
    let reply = post_json(
        &first,
        "/v1/track",
        &json!({"anonymousId": "a", "event": "E"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(feed_events(&first).len(), 1);
}

#[test]
fn a_refused_configuration_exits_without_saying_listening() {
    let mut c = start("startup-config", &[]);
    c.kill9();
    let dir = c.data_dir.clone();
    let output = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--hash-secret", "another-secret"])
        .arg("--data-dir")
        .arg(&dir)
        .env("CAIRN_LOG", "off")
        .output()
        .expect("run collector");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(stderr.contains("hash secret differs"), "{stderr}");
}

#[test]
fn help_lists_the_log_variables() {
    let output = Command::new(BIN).arg("--help").output().expect("--help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("CAIRN_LOG ") && help.contains("CAIRN_LOG_FORMAT"),
        "{help}"
    );
}

/// A collector serving a one-file demo site; the site's dir lives as long as the pair.
fn demo_collector(name: &str) -> (CollectorProcess, TempDir) {
    let site = temp_dir(&format!("{name}-site"));
    std::fs::write(site.join("index.html"), "<script src=\"shop.js\"></script>").unwrap();
    let c = start(name, &["--demo-dir", &site.display().to_string()]);
    (c, site)
}

#[test]
fn root_and_demo_without_slash_lead_to_the_demo() {
    let (c, _site) = demo_collector("startup-demo");
    let http = http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/demo"] {
        let r = http.get(format!("{}{path}", c.url)).send().unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], "/demo/", "{path}");
    }
    let page = http.get(format!("{}/demo/", c.url)).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("shop.js"));
    // Without --demo-dir there is no demo and no redirect.
    let plain = start("startup-no-demo", &[]);
    let r = http.get(format!("{}/", plain.url)).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        get(&plain, "/demo/api/events?anonymousId=x", None).status,
        404
    );
}

#[test]
fn the_demo_lists_what_reached_the_collector_for_one_visitor() {
    let (c, _site) = demo_collector("startup-demo-events");
    let batch = json!({"batch": [
        {"type": "page", "anonymousId": "visitor-1", "messageId": "m1", "name": "Home"},
        {"type": "track", "anonymousId": "visitor-2", "messageId": "m2", "event": "Other"},
        {"type": "track", "anonymousId": "visitor-1", "messageId": "m3", "event": "add_to_cart",
         "userId": "u1"}
    ]});
    assert_eq!(post_json(&c, "/v1/batch", &batch).status, 200);
    let reply = get(&c, "/demo/api/events?anonymousId=visitor-1&after=0", None);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let ids: Vec<&Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["value"]["messageId"])
        .collect();
    assert_eq!(ids, [&json!("m1"), &json!("m3")]);
    let next = body["next"].as_u64().unwrap();
    assert_eq!(next, last_cursor(&c));
    let later = get(
        &c,
        &format!("/demo/api/events?anonymousId=visitor-1&after={next}"),
        None,
    );
    assert_eq!(later.json()["events"], json!([]));
    assert_eq!(later.json()["next"], next);
    assert_eq!(get(&c, "/demo/api/events", None).status, 400);
}

#[test]
fn an_empty_or_weak_secret_is_refused_at_start() {
    let dir = temp_dir("startup-weak");
    for (var, value, message) in [
        ("CAIRN_READ_KEY", "", "read key is empty"),
        ("CAIRN_ADMIN_KEY", "admin", "admin key is 5 characters"),
        ("CAIRN_HASH_SECRET", "", "hash secret is empty"),
    ] {
        let output = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env(var, value)
            .env("CAIRN_LOG", "off")
            .output()
            .expect("run collector");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{var}");
        assert!(stderr.contains(message), "{var}: {stderr}");
        assert!(!dir.join("keys.json").exists(), "{var}: nothing kept");
    }
}

#[test]
fn files_in_the_data_dir_are_for_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let c = start("startup-modes", &[]);
    let batch = json!({"batch": [{"type": "identify", "userId": "u1", "messageId": "m1"}]});
    assert_eq!(post_json(&c, "/v1/batch", &batch).status, 200);
    assert_eq!(delete_user(&c, "u1").status, 200);
    let mut seen = 0;
    let mut pending = vec![c.data_dir.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {:o}", path.display(), mode & 0o777);
            seen += 1;
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    assert!(
        seen > 5,
        "the log, the index, keys.json, lock and deletions-done"
    );
}
