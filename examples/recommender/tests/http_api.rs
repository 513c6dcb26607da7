//! Every endpoint and error of the service, on the real binary fed by a real
//! collector; and freshness: an event the collector acknowledged changes the
//! recommendations (the latency is printed, not asserted).

mod support;

use std::time::Instant;

use serde_json::{json, Value};
use support::*;

fn ids_of(v: &Value) -> Vec<String> {
    v["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn reasons(v: &Value) -> Vec<String> {
    v["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap().to_owned())
        .collect()
}

/// A small shop: shoes and socks go together, hats are popular, alice buys a hat.
fn seed(c: &CollectorProcess) {
    let mut batch = Vec::new();
    for i in 0..5 {
        let anon = format!("anon-shopper-{i}");
        let user = format!("shopper-{i}");
        batch.push(track(
            Some(&user),
            &anon,
            "product_viewed",
            product("boots", "shoes", 120.0),
            true,
        ));
        batch.push(track(
            Some(&user),
            &anon,
            "product_viewed",
            product("socks", "socks", 9.0),
            true,
        ));
        batch.push(track(
            Some(&user),
            &anon,
            "add_to_cart",
            json!({"product_id": "socks", "quantity": 1, "category": "socks", "price": 9.0}),
            true,
        ));
    }
    for i in 0..8 {
        batch.push(track(None, &format!("anon-hat-{i}"), "purchase", json!({"order_id": format!("o{i}"),
            "products": [{"product_id": "hat", "price": 20.0, "quantity": 1, "category": "hats"}], "total": 20.0, "currency": "EUR"}), false));
    }
    batch.push(track(
        None,
        "anon-x",
        "product_viewed",
        product("scarf", "hats", 15.0),
        false,
    ));
    batch.push(track(
        None,
        "anon-solo",
        "product_viewed",
        product("boots", "shoes", 120.0),
        true,
    ));
    batch.push(track(
        Some("alice"),
        "anon-alice",
        "product_viewed",
        product("boots", "shoes", 120.0),
        true,
    ));
    batch.push(track(Some("alice"), "anon-alice", "purchase", json!({"order_id": "oa",
        "products": [{"product_id": "hat", "price": 20.0, "quantity": 1, "category": "hats"}], "total": 20.0, "currency": "EUR"}), true));
    batch.push(track(
        Some("alice"),
        "anon-alice",
        "hide_item",
        product("scarf", "hats", 15.0),
        true,
    ));
    post(c, batch);
}

#[test]
fn every_endpoint_and_error() {
    let dir = cairn_testkit::temp_dir("reco-api");
    let collector = collector(&dir.join("collector"));
    let reco = Reco::start(&dir.join("reco"), &collector.url, &["--api-key", API_KEY]);
    wait_for("ready", || (reco.get("/readyz").0 == 200).then_some(()));
    // Caught up with an empty feed: an empty list, not an error.
    let empty = reco.recs("limit=5");
    assert_eq!(empty["products"], json!([]));

    seed(&collector);
    reco.catch_up(&collector);

    // --- Recommendations ---------------------------------------------------------
    let alice = reco.recs("userId=alice&limit=5&context=homepage");
    assert!(alice["modelVersion"]
        .as_str()
        .unwrap()
        .starts_with("cairn-reco-1+reco-strategy="));
    assert!(chrono::DateTime::parse_from_rfc3339(alice["generatedAt"].as_str().unwrap()).is_ok());
    let variant = alice["experiments"][0]["variant"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(["blended", "recent"].contains(&variant.as_str()));
    let got = ids_of(&alice);
    let socks = alice["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "socks")
        .expect("socks");
    assert_eq!(
        socks["reason"], "Because you viewed Product boots",
        "co-viewed with boots: {alice}"
    );
    assert!(!got.contains(&"hat".to_string()), "bought: {alice}");
    assert!(!got.contains(&"scarf".to_string()), "hidden: {alice}");
    for p in alice["products"].as_array().unwrap() {
        let s = p["score"].as_f64().unwrap();
        assert!(s > 0.0 && s <= 1.0, "{p}");
    }
    // Same person, same variant, every time.
    assert_eq!(
        reco.recs("userId=alice")["experiments"][0]["variant"],
        json!(variant)
    );
    // The anonymous id alice was seen with reads her profile.
    assert_eq!(ids_of(&reco.recs("anonId=anon-alice")), got);
    let solo = reco.recs("anonId=anon-solo&limit=1");
    assert_eq!(ids_of(&solo), ["socks"]);
    assert_eq!(
        solo["products"][0]["reason"],
        "Because you viewed Product boots"
    );
    // Unknown person: popular, not personal.
    let unknown = reco.recs("userId=nobody&limit=3");
    assert_eq!(ids_of(&unknown)[0], "hat");
    assert!(
        reasons(&unknown)
            .iter()
            .all(|r| !r.starts_with("Because you")),
        "{unknown}"
    );
    assert_eq!(unknown["products"][0]["reason"], "Popular right now");
    // No ids at all: popular.
    assert_eq!(ids_of(&reco.recs("limit=1")), ["hat"]);
    // Product page: customers who viewed boots also viewed socks.
    let page = reco.recs("context=product-page&productId=boots&limit=3");
    assert_eq!(ids_of(&page)[0], "socks");
    assert_eq!(
        page["products"][0]["reason"],
        "Customers who viewed Product boots also viewed this"
    );
    assert!(!ids_of(&page).contains(&"boots".to_string()));
    assert_eq!(
        ids_of(&reco.recs("currentProductId=boots&limit=1")),
        ["socks"]
    );
    // Category fallback on a product page nobody co-viewed: the category's popular.
    let scarf = reco.recs("productId=scarf&limit=2&userId=nobody");
    assert_eq!(scarf["products"][0]["id"], "hat");
    assert_eq!(scarf["products"][0]["reason"], "Popular in hats");
    // limit is honoured.
    assert_eq!(
        reco.recs("limit=2")["products"].as_array().unwrap().len(),
        2
    );

    // --- 400s with a reason ------------------------------------------------------------
    for (query, reason) in [
        ("limit=0", "invalid_limit"),
        ("limit=1000", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("userId=", "invalid_user_id"),
        ("anonId=%20", "invalid_anon_id"),
        ("context=home%20page", "invalid_context"),
        ("context=product-page", "missing_product_id"),
        ("productId=", "invalid_product_id"),
        ("user=alice", "unknown_parameter"),
        ("limit=1&limit=2", "duplicate_parameter"),
    ] {
        let (status, body) = reco.get(&format!("/api/recommendations?{query}"));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(reason)),
            "{query}: {body}"
        );
        assert!(!body["message"].as_str().unwrap().is_empty());
    }

    // --- Profiles ---------------------------------------------------------------------
    let pseudonym = ids().user("alice");
    let p = reco.ok("/api/v1/users/alice/profile");
    assert_eq!(p["user_id"], json!(pseudonym));
    assert_eq!(
        p["event_counts"],
        json!({"product_viewed": 1, "purchase": 1, "hide_item": 1})
    );
    assert_eq!(p["sessions"], 1);
    assert_eq!(p["top_categories"][0]["name"], "hats");
    assert_eq!(p["device_preference"], "mobile");
    assert_eq!(p["platform_preference"], "android");
    assert_eq!(
        p["consent"],
        json!({"analytics": true, "personalization": true, "marketing": false})
    );
    assert_eq!(p["purchased"], json!(["hat"]));
    assert_eq!(p["hidden"], json!(["scarf"]));
    assert_eq!(p["price_band"]["band"], "mid");
    assert!(p["cohorts"].as_array().unwrap().contains(&json!("buyers")));
    assert!(p["cohorts"]
        .as_array()
        .unwrap()
        .contains(&json!("app_users")));
    assert!(p["peak_days"].as_array().unwrap().len() == 1);
    // An anonymous visitor with personalization consent has a profile by anonymous id.
    let solo = reco.ok("/api/v1/users/anon-solo/profile?idType=anonymous");
    assert_eq!(solo["user_id"], json!(ids().anonymous("anon-solo")));
    assert_eq!(solo["event_counts"], json!({"product_viewed": 1}));
    // shopper-0's events carry a userId: the anonymous id holds no profile of its own.
    assert_eq!(
        reco.get("/api/v1/users/anon-shopper-0/profile?idType=anonymous")
            .0,
        404
    );
    let (status, body) = reco.get("/api/v1/users/nobody/profile");
    assert_eq!((status, body["error"].as_str()), (404, Some("no_profile")));
    let (status, body) = reco.get("/api/v1/users/alice/profile?idType=robot");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_id_type"))
    );
    // Anonymous visitors without personalization consent have no profile.
    let (status, _) = reco.get("/api/v1/users/anon-hat-0/profile?idType=anonymous");
    assert_eq!(status, 404);

    // --- Cohorts ----------------------------------------------------------------------
    let list = reco.ok("/api/v1/cohorts");
    let size = |id: &str| {
        list["cohorts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["member_count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(size("buyers"), 1);
    assert_eq!(size("cart_abandoners"), 5);
    assert_eq!(size("app_users"), 7);
    let members = reco.ok("/api/v1/cohorts/cart_abandoners/members?limit=2");
    assert_eq!(members["member_count"], 5);
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    let all = reco.ok("/api/v1/cohorts/cart_abandoners/members");
    assert!(all["members"]
        .as_array()
        .unwrap()
        .contains(&json!(ids().user("shopper-3"))));
    assert_eq!(
        reco.ok("/api/v1/users/alice/cohorts")["cohorts"],
        p["cohorts"]
    );
    assert_eq!(
        reco.ok("/api/v1/users/nobody/cohorts")["cohorts"],
        json!([])
    );
    let stats = reco.ok("/api/v1/cohorts/cart_abandoners/stats");
    assert_eq!(stats["member_count"], 5);
    assert_eq!(stats["top_content"][0], "socks");
    assert!(stats["avg_engagement"].as_f64().unwrap() > 0.0);
    assert!(stats["best_send_time"]
        .as_str()
        .unwrap()
        .ends_with(":00 UTC"));
    for (path, status, reason) in [
        ("/api/v1/cohorts/nope/members", 404, "unknown_cohort"),
        ("/api/v1/cohorts/nope/stats", 404, "unknown_cohort"),
        (
            "/api/v1/cohorts/buyers/members?limit=0",
            400,
            "invalid_limit",
        ),
        (
            "/api/v1/cohorts/buyers/members?limit=1&x=1",
            400,
            "invalid_query",
        ),
    ] {
        let (s, body) = reco.get(path);
        assert_eq!(
            (s, body["error"].as_str()),
            (status, Some(reason)),
            "{path}: {body}"
        );
    }
    // Membership follows events: a purchase moves shopper-1 from cart_abandoners to buyers.
    post(
        &collector,
        vec![track(
            Some("shopper-1"),
            "anon-shopper-1",
            "purchase",
            json!({"order_id": "o-s1",
        "products": [{"product_id": "socks", "price": 9.0, "quantity": 1}], "total": 9.0, "currency": "EUR"}),
            true,
        )],
    );
    wait_for("shopper-1 a buyer", || {
        let c = reco.ok("/api/v1/users/shopper-1/cohorts")["cohorts"].clone();
        (c.as_array().unwrap().contains(&json!("buyers"))).then_some(c)
    });
    assert_eq!(
        reco.ok("/api/v1/cohorts/cart_abandoners/members")["member_count"],
        4
    );

    // --- A/B --------------------------------------------------------------------------
    let mv = alice["modelVersion"].as_str().unwrap();
    let shown = json!({"model_version": mv, "list": "homepage", "product_ids": ids_of(&alice)});
    let clicked =
        json!({"model_version": mv, "list": "homepage", "product_id": "socks", "position": 0});
    let mut ab = vec![
        track(
            Some("alice"),
            "anon-alice",
            "recommendation_shown",
            shown.clone(),
            true,
        ),
        track(
            Some("alice"),
            "anon-alice",
            "recommendation_shown",
            shown,
            true,
        ),
        track(
            Some("alice"),
            "anon-alice",
            "recommendation_clicked",
            clicked,
            true,
        ),
        track(
            Some("alice"),
            "anon-alice",
            "add_to_cart",
            json!({"product_id": "socks", "quantity": 1}),
            true,
        ),
        track(
            Some("alice"),
            "anon-alice",
            "experiment_exposure",
            json!({"experiment": "reco-strategy", "variant": variant}),
            true,
        ),
    ];
    for e in &mut ab[..3] {
        e["context"]["purpose"] = json!("personalization");
    }
    post(&collector, ab);
    reco.catch_up(&collector);
    let exps = reco.ok("/api/v1/experiments");
    let v = exps["experiments"][0]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == json!(variant))
        .unwrap()
        .clone();
    assert_eq!(
        (
            v["impressions"].as_u64(),
            v["clicks"].as_u64(),
            v["add_to_carts"].as_u64(),
            v["exposures"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(1)),
        "{exps}"
    );
    assert_eq!(v["ctr"], 0.5);
    assert_eq!(v["add_to_cart_rate"], 0.5);

    // --- Dashboard, stats, probes, auth ------------------------------------------------
    let stats = reco.ok("/api/v1/stats");
    let minutes = stats["events_per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let total: u64 = minutes.iter().map(|m| m["count"].as_u64().unwrap()).sum();
    assert_eq!(total, stats["totals"]["events"].as_u64().unwrap());
    assert_eq!(stats["caught_up"], true);
    assert_eq!(stats["cohorts"]["buyers"], 2);
    let client = cairn_testkit::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/dashboard", reco.url))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("<canvas")
            && html.contains("/api/v1/stats")
            && !html.contains("http://")
            && !html.contains("https://")
    );
    let root = client.get(format!("{}/", reco.url)).send().unwrap();
    assert_eq!(
        (
            root.status().as_u16(),
            root.headers()["location"].to_str().unwrap()
        ),
        (307, "/dashboard")
    );
    assert_eq!(
        client
            .get(format!("{}/healthz", reco.url))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "ok"
    );
    let no_key = client
        .get(format!("{}/api/v1/users/alice/profile", reco.url))
        .send()
        .unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(no_key.json::<Value>().unwrap()["error"], "unauthorized");
    let wrong = client
        .get(format!("{}/api/v1/stats", reco.url))
        .bearer_auth("wrong")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Recommendations stay open to pages, with CORS.
    let open = client
        .get(format!("{}/api/recommendations?limit=1", reco.url))
        .header("origin", "http://shop.example")
        .send()
        .unwrap();
    assert_eq!(open.status(), 200);
    assert_eq!(open.headers()["access-control-allow-origin"], "*");
}

#[test]
fn not_ready_without_collector_and_fallback_is_503() {
    let dir = cairn_testkit::temp_dir("reco-503");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reco = Reco::start(&dir, &format!("http://127.0.0.1:{port}"), &[]);
    let (status, body) = reco.get("/api/recommendations?userId=alice");
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("not_ready")),
        "{body}"
    );
    let (status, _) = reco.get("/readyz");
    assert_eq!(status, 503);
    let stats = reco.ok("/api/v1/stats");
    assert_eq!(stats["caught_up"], false);
    wait_for("the failure reported", || {
        let s = reco.ok("/api/v1/stats");
        (s["last_error"].as_str()?.contains("unreachable")).then_some(())
    });
    // Bad parameters are still 400 (checked before readiness).
    assert_eq!(reco.get("/api/recommendations?limit=0").0, 400);
}

#[test]
fn an_acknowledged_event_changes_recommendations_fast() {
    let dir = cairn_testkit::temp_dir("reco-fresh");
    let collector = collector(&dir.join("collector"));
    let reco = Reco::start(&dir.join("reco"), &collector.url, &[]);
    // Two products often seen together, and a third, more popular one.
    let mut batch = Vec::new();
    for i in 0..4 {
        let u = format!("u{i}");
        batch.push(track(
            Some(&u),
            &format!("a{i}"),
            "product_viewed",
            product("tent", "camping", 200.0),
            true,
        ));
        batch.push(track(
            Some(&u),
            &format!("a{i}"),
            "product_viewed",
            product("stove", "camping", 60.0),
            true,
        ));
    }
    for i in 0..10 {
        batch.push(track(
            None,
            &format!("b{i}"),
            "add_to_cart",
            json!({"product_id": "bike", "quantity": 1}),
            false,
        ));
    }
    post(&collector, batch);
    reco.catch_up(&collector);
    let before = reco.recs("userId=fresh-user&limit=1");
    assert_eq!(ids_of(&before), ["bike"]);

    let mut latencies = Vec::new();
    for round in 0..5 {
        let user = format!("fresh-user-{round}");
        let q = format!("userId={user}&limit=1");
        assert_eq!(ids_of(&reco.recs(&q)), ["bike"]);
        post(
            &collector,
            vec![track(
                Some(&user),
                "fresh-anon",
                "add_to_cart",
                json!({"product_id": "tent", "quantity": 1, "category": "camping"}),
                true,
            )],
        );
        let acked = Instant::now();
        let after = wait_for("the recommendation to change", || {
            let r = reco.recs(&q);
            (ids_of(&r) == ["stove"]).then_some(r)
        });
        latencies.push(acked.elapsed());
        assert_eq!(
            after["products"][0]["reason"],
            "Because you added Product tent to your cart"
        );
    }
    latencies.sort();
    println!(
        "freshness: collector ack -> changed recommendation: median {:?}, max {:?} over {} rounds (budget 1 s)",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        latencies.len()
    );
}

#[test]
fn a_missing_key_or_bad_rule_stops_the_binary_before_it_listens() {
    let dir = cairn_testkit::temp_dir("reco-config");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cairn-recommender"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(args)
            .env("CAIRN_LOG", "error")
            .output()
            .expect("run")
    };
    let out = run(&["--hash-secret", "s", "--project-hash-key", "p"]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--read-key is required"), "{err}");
    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        r#"{"cohorts": [{"id": "fans", "rule": "favourite == 'x'"}]}"#,
    )
    .unwrap();
    let out = run(&[
        "--read-key",
        "r",
        "--hash-secret",
        "s",
        "--project-hash-key",
        "p",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cohort fans") && err.contains("unknown field favourite"),
        "{err}"
    );
    // Empty variables count as absent; the collector's keys.json fills them.
    let keys = dir.join("keys.json");
    std::fs::write(
        &keys,
        r#"{"readKey": "r", "hashSecret": "s", "projectHashKey": "p"}"#,
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn-recommender"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .arg("--collector-keys")
        .arg(&keys)
        .env("CAIRN_RECO_READ_KEY", "")
        .env("CAIRN_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(
        line.starts_with("cairn-recommender listening on http://127.0.0.1:"),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
