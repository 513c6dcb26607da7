//! Restarts mid-stream: the recommender killed with SIGKILL and restarted while events
//! flow, then the collector likewise; afterwards every count the service shows equals a
//! recount from the collector's feed, so no record was applied twice or missed.

mod support;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use serde_json::{json, Value};
use support::*;

const USERS: usize = 12;
const BATCHES: usize = 40;
const PER_BATCH: usize = 25;

/// Posts `BATCHES` batches to `url`, retrying a batch (same messageIds, so the collector
/// deduplicates) while the collector is away.
fn poster(url: String, phase: usize, posted: Arc<AtomicUsize>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let client = cairn_testkit::http_client()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let names = [
            "product_viewed",
            "product_clicked",
            "add_to_cart",
            "search_result_click",
            "page_view",
        ];
        for b in 0..BATCHES {
            let batch: Vec<Value> = (0..PER_BATCH)
                .map(|i| {
                    let n = b * PER_BATCH + i;
                    let user = format!("user-{}", n % USERS);
                    let mut e = track(
                        Some(&user),
                        &format!("anon-{}", n % USERS),
                        names[n % names.len()],
                        product(
                            &format!("p{}", (n * 7 + phase) % 30),
                            &format!("c{}", n % 4),
                            10.0 + (n % 50) as f64,
                        ),
                        !n.is_multiple_of(5),
                    );
                    e["messageId"] = json!(format!("m-{phase}-{n}"));
                    if e["event"] == "search_result_click" {
                        e["properties"]["query"] = json!("q");
                    }
                    e
                })
                .collect();
            let body = json!({ "batch": batch });
            wait_for("the collector to take a batch", || {
                let r = client
                    .post(format!("{url}/v1/batch"))
                    .basic_auth(cairn_testkit::WRITE_KEY, Some(""))
                    .json(&body)
                    .send()
                    .ok()?;
                (r.status() == 200).then_some(())
            });
            posted.fetch_add(1, Ordering::SeqCst);
        }
    })
}

/// Counts from the feed itself: events by name, and by (user pseudonym, name) for
/// events with personalization consent.
type Recount = (u64, BTreeMap<String, u64>, BTreeMap<(String, String), u64>);

fn recount(c: &CollectorProcess) -> Recount {
    let mut total = 0;
    let mut by_name = BTreeMap::new();
    let mut by_user = BTreeMap::new();
    for r in c.feed(0).iter().filter(|r| r["kind"] == "event") {
        let v = &r["value"];
        let name = match v["type"].as_str().unwrap() {
            "page" => "page_view".to_owned(),
            _ => v["event"].as_str().unwrap().to_owned(),
        };
        total += 1;
        *by_name.entry(name.clone()).or_default() += 1;
        if v["context"]["consent"]["personalization"] == true {
            *by_user
                .entry((v["userId"].as_str().unwrap().to_owned(), name))
                .or_default() += 1;
        }
    }
    (total, by_name, by_user)
}

fn check_against_feed(reco: &Reco, c: &CollectorProcess) {
    reco.catch_up(c);
    let (total, by_name, by_user) = recount(c);
    assert_eq!(
        total as usize,
        2 * BATCHES * PER_BATCH,
        "the feed holds every event once"
    );
    let stats = reco.ok("/api/v1/stats");
    assert_eq!(stats["totals"]["events"].as_u64(), Some(total), "{stats}");
    let shown: BTreeMap<String, u64> =
        serde_json::from_value(stats["totals"]["by_name"].clone()).unwrap();
    assert_eq!(shown, by_name);
    for u in 0..USERS {
        let p = reco.ok(&format!("/api/v1/users/user-{u}/profile"));
        let pseudonym = p["user_id"].as_str().unwrap();
        let counts: BTreeMap<String, u64> =
            serde_json::from_value(p["event_counts"].clone()).unwrap();
        let expected: BTreeMap<String, u64> = by_user
            .iter()
            .filter(|((id, _), _)| id == pseudonym)
            .map(|((_, name), n)| (name.clone(), *n))
            .collect();
        assert_eq!(counts, expected, "user-{u}");
    }
}

#[test]
fn restarts_of_either_process_apply_every_record_once() {
    let dir = cairn_testkit::temp_dir("reco-restart");
    let mut collector = collector(&dir.join("collector"));
    let mut reco = Reco::start(
        &dir.join("reco"),
        &collector.url,
        &["--api-key", API_KEY, "--feed-page", "50"],
    );

    // Phase 1: SIGKILL the recommender while events flow.
    let posted = Arc::new(AtomicUsize::new(0));
    let posting = poster(collector.url.clone(), 1, posted.clone());
    wait_for("some records applied", || {
        (reco.cursor() >= 200).then_some(())
    });
    reco.restart();
    println!(
        "recommender killed with {}/{BATCHES} batches posted",
        posted.load(Ordering::SeqCst)
    );
    posting.join().unwrap();

    // Phase 2: SIGKILL the collector (and start it again) while events flow.
    let posted = Arc::new(AtomicUsize::new(0));
    let posting = poster(collector.url.clone(), 2, posted.clone());
    let before = reco.cursor();
    wait_for("more records applied", || {
        (reco.cursor() >= before + 200).then_some(())
    });
    collector.restart();
    println!(
        "collector killed with {}/{BATCHES} batches posted",
        posted.load(Ordering::SeqCst)
    );
    posting.join().unwrap();
    check_against_feed(&reco, &collector);

    // A graceful stop writes the snapshot; the next start shows the same counts.
    assert!(reco.terminate().success());
    reco.restart();
    check_against_feed(&reco, &collector);
}
