//! The SDK in a process of its own, for the crash test (tests/e2e/crash.rs).
//!
//! ```text
//! cairn-sdk-child track   <data-dir> <endpoint> <count> <run> [<flushed>]
//! cairn-sdk-child deliver <data-dir> <endpoint>
//! ```
//!
//! `track` opens a SledStore, grants consent, tracks `count` events `e2e_crash` with
//! properties `{"run": <run>, "n": 0..count}`, prints `tracked` and then waits forever
//! with its upload loop running, as an app would. With `<flushed>`, the first that many
//! are tracked and then flush()ed (delivered) before the rest are tracked. The events
//! after that are never flushed, so only the SDK's own durability rule (durable within
//! 200 ms of track()) can save them from a SIGKILL. `deliver` opens the same store, prints `queued <n>` (events left by
//! the earlier run), calls `shutdown(20 s)` and prints `delivered`, exiting 0 only if
//! everything got out.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cairn::{Client, SledStore, Tracked};
use cairn_e2e::config;
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: cairn-sdk-child track <dir> <endpoint> <count> <run> [<flushed>] | deliver <dir> <endpoint>";
    let (mode, dir, endpoint) = match args.as_slice() {
        [mode, dir, endpoint, ..] => (mode.as_str(), dir, endpoint),
        _ => panic!("{usage}"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let store = SledStore::open(dir).expect("open SledStore");
    let client = {
        let _guard = rt.enter();
        Client::new(config(endpoint), Arc::new(store)).expect("start Client")
    };
    let mut out = std::io::stdout();
    match (mode, &args[3..]) {
        ("track", [count, run, rest @ ..]) if rest.len() <= 1 => {
            let count: u64 = count.parse().expect("count");
            let flushed: u64 = rest.first().map_or(0, |f| f.parse().expect("flushed"));
            for n in 0..count {
                if n == flushed && n > 0 {
                    rt.block_on(client.flush()).expect("flush");
                    writeln!(out, "flushed {n}").expect("stdout");
                }
                let tracked = client
                    .track("e2e_crash", json!({ "run": run, "n": n }))
                    .expect("track");
                assert_eq!(tracked, Tracked::Queued);
            }
            writeln!(out, "tracked")
                .and_then(|_| out.flush())
                .expect("stdout");
            // The app goes on living (its upload loop keeps running) until it is killed.
            rt.block_on(std::future::pending::<()>());
        }
        ("deliver", []) => {
            let queued = client.with_engine(|e| e.queued());
            writeln!(out, "queued {queued}").expect("stdout");
            match rt.block_on(client.shutdown(Duration::from_secs(20))) {
                Ok(()) => writeln!(out, "delivered").expect("stdout"),
                Err(e) => {
                    writeln!(out, "not delivered: {e}").expect("stdout");
                    std::process::exit(1);
                }
            }
        }
        _ => panic!("{usage}"),
    }
}
