//! The reference recommender (`cairn-recommender`) as tests meet it: a child process on
//! a free loopback port, following a collector's feed with the testkit's keys, killed
//! and reaped when dropped. The recommender's own tests and the end-to-end shop loop
//! share it, so both start the service the same way.
//!
//! Rules: the port comes from the "listening on" line the binary prints on stdout (it
//! listens on port 0); "serving" is `GET /healthz` answering 200, polled with a
//! deadline, never a fixed sleep. `/readyz` (caught up with the feed) is left to the
//! tests, some of which look at the service before it has caught up. Its stderr (the
//! logs, `CAIRN_LOG=warn` unless `CAIRN_TEST_LOG` says otherwise) goes to the test's
//! stderr, as the collector's does.

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{
    http_client, tansu::poll_until, ServiceChild, HASH_SECRET, PROJECT_HASH_KEY, READ_KEY,
    START_TIMEOUT,
};

/// The line the binary prints once it has bound its listener.
const LISTENING: &str = "cairn-recommender listening on ";

/// A running `cairn-recommender` child process, killed and reaped when dropped.
pub struct RecommenderProcess {
    pub(crate) child: ServiceChild,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub url: String,
    bin: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
}

impl RecommenderProcess {
    /// Starts `bin` following the feed at `collector_url`, keeping its state in
    /// `data_dir`, with the testkit's read key, hash secret and project hash key (unless
    /// `extra` passes its own `--project-hash-key`), a 500 ms cap on its reconnect
    /// backoff, then `extra`.
    pub fn follow(
        bin: impl Into<PathBuf>,
        collector_url: &str,
        data_dir: &Path,
        extra: &[&str],
    ) -> Self {
        let mut args: Vec<OsString> = vec!["--collector".into(), collector_url.into()];
        args.extend(["--data-dir".into(), data_dir.as_os_str().to_owned()]);
        args.extend(["--read-key", READ_KEY, "--hash-secret", HASH_SECRET].map(OsString::from));
        if !extra.contains(&"--project-hash-key") {
            args.extend(["--project-hash-key", PROJECT_HASH_KEY].map(OsString::from));
        }
        args.extend(["--max-backoff-ms", "500"].map(OsString::from));
        args.extend(extra.iter().map(OsString::from));
        Self::start_at(bin.into(), args, Vec::new())
    }

    /// Starts `bin` on a free loopback port (`--listen 127.0.0.1:0` comes first) with
    /// `args` and `env` (set after the default `CAIRN_LOG`, so it may override it).
    pub fn start(bin: impl Into<PathBuf>, args: &[&str], env: &[(&str, &str)]) -> Self {
        let args = args.iter().map(OsString::from).collect();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_at(bin.into(), args, env)
    }

    fn start_at(bin: PathBuf, args: Vec<OsString>, env: Vec<(String, String)>) -> Self {
        let log = std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let mut command = Command::new(&bin);
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .env("CAIRN_LOG", log)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let (child, url, addr) = ServiceChild::spawn(&mut command, LISTENING);
        let process = Self {
            child,
            addr,
            url,
            bin,
            args,
            env,
        };
        let client = http_client()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let healthz = format!("{}/healthz", process.url);
        let serving = poll_until(START_TIMEOUT, || {
            client
                .get(&healthz)
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        assert!(serving, "{healthz} did not answer 200 in {START_TIMEOUT:?}");
        process
    }

    /// SIGKILL (a no-op after `terminate`), then a new process with the same arguments
    /// (so on the same data dir) on a new free port: `url` changes.
    pub fn restart(&mut self) {
        self.kill9();
        let next = Self::start_at(self.bin.clone(), self.args.clone(), self.env.clone());
        *self = next;
    }
}
