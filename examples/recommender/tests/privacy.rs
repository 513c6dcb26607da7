//! Deletion and revocation: after DELETE /v1/users/{id} at the collector, or a
//! consent_changed revoking personalization, the profile is gone, the person gets only
//! non-personal recommendations, and no file of the service's data dir holds their
//! pseudonym or anonymous identity. Raw ids never reach the data dir at all.

mod support;

use std::time::Instant;

use serde_json::{json, Value};
use support::*;

const ALICE: &str = "alice-raw-7f3e";
const ALICE_ANON: &str = "anon-alice-raw-91c2";
const BOB: &str = "bob-raw-55d1";
const BOB_ANON: &str = "anon-bob-raw-12aa";
const CAROL: &str = "carol-raw-0b0b";

fn browse(user: &str, anon: &str) -> Vec<Value> {
    vec![
        track(
            Some(user),
            anon,
            "product_viewed",
            product("boots", "shoes", 90.0),
            true,
        ),
        track(
            Some(user),
            anon,
            "add_to_cart",
            json!({"product_id": "socks", "quantity": 1, "category": "socks"}),
            true,
        ),
    ]
}

fn personal_reasons(reco: &Reco, query: &str) -> Vec<String> {
    reco.recs(query)["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["reason"].as_str())
        .filter(|r| r.starts_with("Because you") || r.contains("a category you like"))
        .map(str::to_owned)
        .collect()
}

/// Waits until no file of the data dir holds any of `needles`; returns how long.
fn wait_gone(reco: &Reco, needles: &[&str]) -> std::time::Duration {
    let started = Instant::now();
    wait_for("the data dir to forget", || {
        needles
            .iter()
            .all(|n| holding(&reco.data_dir, n).is_empty())
            .then_some(())
    });
    started.elapsed()
}

#[test]
fn deletion_and_revocation_leave_nothing_of_the_person() {
    let dir = cairn_testkit::temp_dir("reco-privacy");
    let collector = collector(&dir.join("collector"));
    let reco = Reco::start(&dir.join("reco"), &collector.url, &["--api-key", API_KEY]);
    let mut batch = Vec::new();
    for (u, a) in [(ALICE, ALICE_ANON), (BOB, BOB_ANON), (CAROL, "anon-carol")] {
        batch.extend(browse(u, a));
    }
    // Alice also browsed before logging in, on her anonymous id only.
    batch.push(track(
        None,
        ALICE_ANON,
        "product_viewed",
        product("hat", "hats", 20.0),
        true,
    ));
    post(&collector, batch);
    reco.catch_up(&collector);

    let ids = ids();
    let (alice, alice_anon) = (ids.user(ALICE), ids.anonymous(ALICE_ANON));
    // The service derives the collector's pseudonym exactly (the testkit's own helper).
    assert_eq!(alice, cairn_testkit::stored_user_id(ALICE));
    let (bob, bob_anon) = (ids.user(BOB), ids.anonymous(BOB_ANON));
    for raw in [ALICE, BOB] {
        assert_eq!(reco.get(&format!("/api/v1/users/{raw}/profile")).0, 200);
        assert!(!personal_reasons(&reco, &format!("userId={raw}")).is_empty());
    }
    assert_eq!(
        reco.get(&format!(
            "/api/v1/users/{ALICE_ANON}/profile?idType=anonymous"
        ))
        .0,
        200
    );
    // Positive control: the snapshot holds the pseudonyms (so the scans below can see
    // them); they are in different shard files, written one after the other.
    wait_for("a snapshot with alice", || {
        [&alice, &alice_anon]
            .iter()
            .all(|n| !holding(&reco.data_dir, n).is_empty())
            .then_some(())
    });
    // No raw id, ever.
    for raw in [ALICE, ALICE_ANON, BOB, BOB_ANON, CAROL] {
        assert!(holding(&reco.data_dir, raw).is_empty(), "{raw} stored raw");
    }

    // --- Deletion at the collector --------------------------------------------------------
    let client = cairn_testkit::http_client().build().unwrap();
    let deleted = client
        .delete(format!("{}/v1/users/{ALICE}", collector.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let body: Value = deleted.json().unwrap();
    assert_eq!(
        body["userId"],
        json!(alice),
        "the collector's pseudonym is the one derived here"
    );
    let started = Instant::now();
    wait_for("alice's profile gone", || {
        (reco.get(&format!("/api/v1/users/{ALICE}/profile")).0 == 404).then_some(())
    });
    let profile_gone = started.elapsed();
    let disk_gone = wait_gone(&reco, &[&alice, &alice_anon]) + profile_gone;
    println!("deletion: tombstone acknowledged -> profile gone {profile_gone:?}, no file holds the pseudonym {disk_gone:?} (budget 1 s)");
    assert_eq!(
        reco.get(&format!(
            "/api/v1/users/{ALICE_ANON}/profile?idType=anonymous"
        ))
        .0,
        404
    );
    assert!(personal_reasons(&reco, &format!("userId={ALICE}")).is_empty());
    assert!(personal_reasons(&reco, &format!("anonId={ALICE_ANON}")).is_empty());
    assert_eq!(
        reco.ok(&format!("/api/v1/users/{ALICE}/cohorts"))["cohorts"],
        json!([])
    );
    let members = reco.ok("/api/v1/cohorts/cart_abandoners/members?limit=10000");
    assert!(!members["members"]
        .as_array()
        .unwrap()
        .contains(&json!(alice)));
    // Aggregates stay: socks is still the most carted product.
    assert_eq!(reco.recs("limit=1")["products"][0]["id"], "socks");

    // --- Revocation of personalization ----------------------------------------------------
    let mut revoke = track(
        Some(BOB),
        BOB_ANON,
        "consent_changed",
        json!({"analytics": true, "personalization": false, "marketing": false}),
        false,
    );
    revoke["context"]["purpose"] = json!("consent");
    post(&collector, vec![revoke]);
    let started = Instant::now();
    wait_for("bob's profile gone", || {
        (reco.get(&format!("/api/v1/users/{BOB}/profile")).0 == 404).then_some(())
    });
    let profile_gone = started.elapsed();
    let disk_gone = wait_gone(&reco, &[&bob, &bob_anon]) + profile_gone;
    println!("revocation: consent_changed acknowledged -> profile gone {profile_gone:?}, no file holds the pseudonym {disk_gone:?} (budget 1 s)");
    assert!(personal_reasons(&reco, &format!("userId={BOB}")).is_empty());
    // Bob keeps browsing with analytics only: aggregates count him, no profile comes back.
    post(
        &collector,
        browse(BOB, BOB_ANON)
            .into_iter()
            .map(|mut e| {
                e["context"]["consent"]["personalization"] = json!(false);
                e
            })
            .collect(),
    );
    reco.catch_up(&collector);
    assert_eq!(reco.get(&format!("/api/v1/users/{BOB}/profile")).0, 404);
    assert!(holding(&reco.data_dir, &bob).is_empty());

    // Carol, who did neither, is untouched.
    let carol = reco.ok(&format!("/api/v1/users/{CAROL}/profile"));
    assert_eq!(
        carol["event_counts"],
        json!({"product_viewed": 1, "add_to_cart": 1})
    );
    for raw in [ALICE, ALICE_ANON, BOB, BOB_ANON, CAROL] {
        assert!(holding(&reco.data_dir, raw).is_empty(), "{raw} stored raw");
    }
}
