//! Deletions of any size complete on the real binary: a user with more anonymous ids
//! than the cap (the ties past it refused, their events kept) and a user with 200,000
//! events. Ingest goes on meanwhile; the ack latency of requests that overlapped the
//! deletion is printed (figures for the issue notes, never asserted).

mod api_support;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use api_support::*;
use cairn_protocol::limits::MAX_ANONYMOUS_IDS_PER_USER;
use cairn_testkit::{stored_user_id, CollectorProcess};
use serde_json::{json, Value};

fn post_all(c: &CollectorProcess, events: Vec<Value>, per_batch: usize) {
    for chunk in events.chunks(per_batch) {
        let reply = post_json(c, "/v1/batch", &json!({ "batch": chunk }));
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json()["accepted"], chunk.len(), "{}", reply.text);
    }
}

/// The pseudonym of `raw` is left in the data dir only inside the tombstone records.
fn only_in_tombstones(c: &CollectorProcess, raw: &str) {
    let pseudonym = stored_user_id(raw);
    let in_tombstones: usize = c
        .feed(0)
        .iter()
        .filter(|r| r["kind"] == "tombstone" && r["key"] == pseudonym)
        .map(|r| occurrences(r.to_string().as_bytes(), pseudonym.as_bytes()))
        .sum();
    assert!(in_tombstones > 0);
    assert_eq!(
        occurrences_in_dir(&c.data_dir, pseudonym.as_bytes()),
        in_tombstones,
        "{raw}'s pseudonym is left outside its tombstone"
    );
    assert_eq!(occurrences_in_dir(&c.data_dir, raw.as_bytes()), 0);
}

/// Requests acknowledged before the deletion starts: the baseline latency.
const BEFORE: usize = 100;

/// Posts small batches of another user's events until `stop`, timing each; says on
/// `started` once `BEFORE` are acknowledged. Returns (start, ack latency) per request.
fn ingest_beside(
    c: &CollectorProcess,
    stop: Arc<AtomicBool>,
    started: mpsc::Sender<()>,
) -> std::thread::JoinHandle<Vec<(Instant, Duration)>> {
    let url = c.url.clone();
    let client = c.client();
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Acquire) {
            let batch: Vec<Value> = (0..10)
                .map(|i| {
                    n += 1;
                    json!({"type": "track", "event": "product_viewed", "userId": "bystander",
                           "messageId": format!("by-{n}-{i}"), "properties": {"product_id": "p"}})
                })
                .collect();
            let at = Instant::now();
            let status = client
                .post(format!("{url}/v1/batch"))
                .basic_auth(cairn_testkit::WRITE_KEY, Some(""))
                .json(&json!({ "batch": batch }))
                .send()
                .expect("post beside the deletion")
                .status();
            samples.push((at, at.elapsed()));
            assert_eq!(status, 200);
            if samples.len() == BEFORE {
                let _ = started.send(());
            }
        }
        samples
    })
}

/// Deletes `raw` while another user's ingest goes on; prints the ack latency of the
/// requests that overlapped the deletion. Returns the DELETE's answer.
fn delete_beside_ingest(c: &CollectorProcess, raw: &str) -> Value {
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel();
    let ingest = ingest_beside(c, stop.clone(), started_tx);
    started.recv().expect("ingest started");
    let began = Instant::now();
    let reply = delete_user(c, raw);
    let took = began.elapsed();
    stop.store(true, Ordering::Release);
    let samples = ingest.join().expect("ingest thread");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let ended = began + took;
    let latencies = |keep: &dyn Fn(Instant, Duration) -> bool| {
        let mut picked: Vec<Duration> = samples
            .iter()
            .filter(|(at, latency)| keep(*at, *latency))
            .map(|(_, latency)| *latency)
            .collect();
        picked.sort();
        let median = picked.get(picked.len() / 2).copied().unwrap_or_default();
        let max = picked.last().copied().unwrap_or_default();
        (picked.len(), median, max)
    };
    let (n, median, max) = latencies(&|at, latency| at < ended && at + latency > began);
    let (n0, median0, max0) = latencies(&|at, latency| at + latency <= began);
    println!(
        "deleting {raw}: {} events in {took:?}; ack latency of 10-event requests beside it \
         (n={n}): median {median:?}, max {max:?}; before it (n={n0}): median {median0:?}, \
         max {max0:?}",
        reply.json()["deletedEvents"],
    );
    reply.json()
}

#[test]
fn a_user_past_the_anonymous_id_cap_is_deleted_completely() {
    let c = start("scale-cap", &[]);
    let cap = MAX_ANONYMOUS_IDS_PER_USER;
    let over = 25;
    let mut events = Vec::new();
    for i in 0..cap + over {
        events.push(json!({"type": "identify", "messageId": format!("tie-{i}"),
            "userId": "many-devices", "anonymousId": format!("dev-{i}")}));
        events.push(json!({"type": "page", "messageId": format!("page-{i}"),
            "anonymousId": format!("dev-{i}"), "name": "Home"}));
    }
    post_all(&c, events, 250);
    await_metric(
        &c,
        "cairn_identity_links_refused_total{reason=\"anonymous_cap\"}",
        |v| v == over as f64,
    );
    let answer = delete_beside_ingest(&c, "many-devices");
    assert_eq!(answer["deletedEvents"], (cap + over + cap) as u64);
    let left: Vec<String> = feed_keys(&c)
        .into_iter()
        .filter(|k| !k.starts_with("by-"))
        .collect();
    let refused: Vec<String> = (cap..cap + over).map(|i| format!("page-{i}")).collect();
    assert_eq!(left, refused, "the pages of refused ties stay");
    let tombstone = c
        .feed(0)
        .into_iter()
        .rfind(|r| r["kind"] == "tombstone")
        .unwrap();
    assert_eq!(
        tombstone["value"]["identities"].as_array().unwrap().len(),
        cap + 1
    );
    only_in_tombstones(&c, "many-devices");
}

#[test]
fn a_user_with_200000_events_is_deleted_completely_while_ingest_goes_on() {
    let c = start("scale-200k", &[]);
    let total = 200_000;
    let posters: Vec<_> = (0..2)
        .map(|part| {
            let url = c.url.clone();
            let client = c.client();
            std::thread::spawn(move || {
                for chunk in (part * total / 2..(part + 1) * total / 2)
                    .collect::<Vec<_>>()
                    .chunks(1000)
                {
                    let batch: Vec<Value> = chunk
                        .iter()
                        .map(|i| {
                            json!({"type": "track", "event": "product_viewed",
                                   "userId": "heavy-user", "messageId": format!("h-{i}"),
                                   "properties": {"product_id": "p-heavy"}})
                        })
                        .collect();
                    let reply = client
                        .post(format!("{url}/v1/batch"))
                        .basic_auth(cairn_testkit::WRITE_KEY, Some(""))
                        .json(&json!({ "batch": batch }))
                        .send()
                        .expect("post")
                        .json::<Value>()
                        .expect("answer");
                    assert_eq!(reply["accepted"], chunk.len(), "{reply}");
                }
            })
        })
        .collect();
    for poster in posters {
        poster.join().expect("poster");
    }
    let answer = delete_beside_ingest(&c, "heavy-user");
    assert_eq!(answer["deletedEvents"], total as u64);
    assert!(
        feed_keys(&c).iter().all(|k| k.starts_with("by-")),
        "only the bystander's events are left"
    );
    assert_eq!(occurrences_in_dir(&c.data_dir, b"p-heavy"), 0);
    only_in_tombstones(&c, "heavy-user");
}
