//! Memory outside the in-flight budget: a refusal never costs more than its request,
//! and a feed page never outgrows the response budget.

mod api_support;

use api_support::*;
use serde_json::Value;

#[test]
fn a_batch_of_240000_bad_events_gets_a_small_answer() {
    let c = start("budget-refusal", &[]);
    let body = format!("{{\"batch\": [{}1]}}", "1,".repeat(239_999));
    assert!(body.len() < 500_000);
    let auth = basic(cairn_testkit::WRITE_KEY);
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.clone(),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.text[..200.min(reply.text.len())]
    );
    let json = reply.json();
    assert_eq!(json["rejectedCount"], 240_000);
    assert_eq!(json["rejected"].as_array().unwrap().len(), 100);
    println!("request {} B, answer {} B", body.len(), reply.text.len());
    assert!(reply.text.len() < body.len() / 10, "the answer is small");
    let text = metrics(&c);
    assert_eq!(
        metric(
            &text,
            "cairn_events_rejected_total{reason=\"not_an_object\"}"
        ),
        Some(240_000.0)
    );
}

#[test]
fn feed_pages_stay_within_the_response_budget() {
    let c = start("budget-feed", &["--max-response-bytes", "16384"]);
    let events: Vec<Value> = (0..100)
        .map(|i| serde_json::json!({"type": "track", "event": "E", "anonymousId": "a",
                                     "messageId": format!("m{i}"), "properties": {"pad": "x".repeat(200)}}))
        .collect();
    assert_eq!(
        post_json(&c, "/v1/batch", &serde_json::json!({ "batch": events })).status,
        200
    );
    let page = get(
        &c,
        "/v1/feed?after=0&limit=10000",
        Some(&bearer(cairn_testkit::READ_KEY)),
    );
    assert_eq!(page.status, 200, "{}", page.text);
    let lines = page.text.lines().count();
    assert!(lines > 0 && lines < 100, "{lines} records in one page");
    assert!(page.text.len() <= 16384, "{} bytes", page.text.len());
    assert_eq!(feed_events(&c).len(), 100, "the rest on the next pages");
}
