//! A PostgreSQL cluster of the test's own, for tansu's PostgreSQL storage engine: the
//! one tansu engine that keeps topics, records and committed offsets across a broker
//! restart (the memory engine forgets them).
//!
//! Rules:
//! - created by the test in its own directory on a free loopback port (initdb, then
//!   the postmaster as a child process) and stopped when dropped; nothing of the
//!   machine's own PostgreSQL service is used or changed;
//! - initdb refuses to run as root, so under root the cluster runs as the `postgres`
//!   user (`setpriv`, which execs, so the child is the postmaster itself);
//! - the schema is tansu 0.6.0's own (`etc/initdb.d/010-schema.sql` at tag v0.6.0 of
//!   github.com/tansu-io/tansu, Apache-2.0): its PostgreSQL engine creates no tables.
//!
//! The binaries are Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, or
//! `$CAIRN_PG_BIN`); a missing one fails the test with the package to install.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use cairn_testkit::tansu::{free_port, poll_until};

/// tansu 0.6.0's PostgreSQL schema.
const SCHEMA: &str = include_str!("tansu-0.6.0-pg-schema.sql");
const OS_USER: &str = "postgres";
const DB_USER: &str = "tansu";
const DB: &str = "tansu";

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("CAIRN_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: the broker-restart test needs PostgreSQL 15 \
         (apt-get install postgresql-15, or set CAIRN_PG_BIN)",
        path.display()
    );
    path
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `name` as the cluster's owner: the `postgres` user under root, else ourselves.
fn as_owner(name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", OS_USER, "--regid", OS_USER, "--init-groups"])
            .arg(bin(name));
        c
    } else {
        Command::new(bin(name))
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running PostgreSQL cluster with tansu's schema in database `tansu`.
pub struct Postgres {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Postgres {
    /// initdb in `dir/pg` (created), start the postmaster, create the database and
    /// tansu's schema.
    pub fn start(dir: &Path) -> Self {
        let dir = dir.join("pg");
        std::fs::create_dir_all(&dir).expect("create the cluster dir");
        if is_root() {
            run(Command::new("chown")
                .arg(format!("{OS_USER}:{OS_USER}"))
                .arg(&dir));
        }
        run(as_owner("initdb").arg("-D").arg(dir.join("data")).args([
            "-A",
            "trust",
            "-U",
            DB_USER,
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        let port = free_port();
        let log = std::fs::File::create(dir.join("postgres.log")).expect("postgres.log");
        if is_root() {
            run(Command::new("chown")
                .arg(format!("{OS_USER}:{OS_USER}"))
                .arg(dir.join("postgres.log")));
        }
        let child = as_owner("postgres")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        let pg = Self {
            child: Some(child),
            port,
            dir,
        };
        assert!(
            poll_until(Duration::from_secs(60), || {
                Command::new(bin("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            }),
            "postgres did not accept connections; see {}",
            pg.dir.join("postgres.log").display()
        );
        pg.psql("postgres", &format!("create database {DB}"));
        let mut psql = pg
            .psql_command(DB)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn psql");
        psql.stdin
            .take()
            .expect("psql stdin")
            .write_all(SCHEMA.as_bytes())
            .expect("write the schema");
        let out = psql.wait_with_output().expect("psql");
        assert!(
            out.status.success(),
            "tansu's schema failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    fn psql_command(&self, db: &str) -> Command {
        let mut c = Command::new(bin("psql"));
        c.args(["-X", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", DB_USER, "-d", db]);
        c
    }

    /// Runs one SQL statement; its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        run(self.psql_command(db).args(["-A", "-t", "-c", sql]))
    }

    /// tansu's `--storage-engine` URL for this cluster.
    pub fn storage_engine(&self) -> String {
        format!("postgres://{DB_USER}@127.0.0.1:{}/{DB}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's fast shutdown: sessions end, nothing is left.
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let stopped = poll_until(Duration::from_secs(30), || {
                child.try_wait().is_ok_and(|s| s.is_some())
            });
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
