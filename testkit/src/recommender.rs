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
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use crate::{http_client, tansu::poll_until, HASH_SECRET, PROJECT_HASH_KEY, READ_KEY};

/// How long a recommender may take to print its address and then serve.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The line the binary prints once it has bound its listener.
const LISTENING: &str = "cairn-recommender listening on ";

/// A running `cairn-recommender` child process.
pub struct RecommenderProcess {
    child: Child,
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
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .env("CAIRN_LOG", log)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix(LISTENING) {
                        let _ = tx.send(url.to_owned());
                        sent = true;
                    }
                }
            }
        });
        let url = match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => url,
            // Stdout closed without the line: the process stopped (its stderr says why).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("wait for recommender");
                panic!("{} exited ({status}) before listening", bin.display());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("recommender did not report its address in {START_TIMEOUT:?}");
            }
        };
        let addr = url
            .trim_start_matches("http://")
            .parse()
            .expect("address in the start line");
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("wait for recommender")
    }

    /// SIGKILL (a no-op after `terminate`), then a new process with the same arguments
    /// (so on the same data dir) on a new free port: `url` changes.
    pub fn restart(&mut self) {
        self.kill9();
        let next = Self::start_at(self.bin.clone(), self.args.clone(), self.env.clone());
        *self = next;
    }
}

impl Drop for RecommenderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
