//! The round-trip check itself catches a missing event, a changed value and a
//! schema violation (so the platform tests that rely on it prove something).

use cairn_codegen::{app_event_names, check_round_trip, sample_properties};
use cairn_protocol::events::spec;
use serde_json::{json, Value};

/// The feed a perfect round trip produces.
fn perfect_feed() -> Vec<Value> {
    app_event_names()
        .into_iter()
        .map(|name| {
            let e = spec(name).unwrap();
            let purpose = e.purpose_name();
            match name {
                "page_view" | "screen_view" => json!({
                    "type": if name == "page_view" { "page" } else { "screen" },
                    "name": format!("{name}-name").replace('_', "-"),
                    "properties": sample_properties(e),
                    "context": {"purpose": purpose},
                }),
                _ => json!({
                    "type": "track", "event": name, "properties": sample_properties(e),
                    "context": {"purpose": purpose},
                }),
            }
        })
        .collect()
}

#[test]
fn a_perfect_feed_passes_and_each_fault_is_named() {
    let feed = perfect_feed();
    assert_eq!(check_round_trip(&feed).unwrap(), Vec::<String>::new());

    let missing: Vec<Value> = feed
        .iter()
        .filter(|v| v["event"] != "purchase")
        .cloned()
        .collect();
    assert_eq!(
        check_round_trip(&missing).unwrap(),
        ["purchase: 0 in the feed, not 1"]
    );

    let mut changed = feed.clone();
    let cart = changed
        .iter_mut()
        .find(|v| v["event"] == "add_to_cart")
        .unwrap();
    cart["properties"]["quantity"] = json!("2");
    let problems = check_round_trip(&changed).unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("add_to_cart.quantity: \"2\" in the feed"));
    assert!(
        problems[1].starts_with("add_to_cart: schema: "),
        "{problems:?}"
    );

    let mut extra_wrong = feed.clone();
    let order = extra_wrong
        .iter_mut()
        .find(|v| v["event"] == "purchase")
        .unwrap();
    order["properties"]["products"][0]["quantity"] = json!(0);
    order["context"]["purpose"] = json!("marketing");
    let problems = check_round_trip(&extra_wrong).unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("purchase: context.purpose")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("purchase: schema")),
        "{problems:?}"
    );

    let mut records = feed.clone();
    records.push(json!({"type": "track", "event": "consent_changed",
        "properties": {"analytics": true, "personalization": false, "marketing": "yes"},
        "context": {"purpose": "analytics"}}));
    let problems = check_round_trip(&records).unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("consent_changed: context.purpose"));
    assert!(problems[1].starts_with("consent_changed: schema: "));

    let mut custom = feed;
    let like = custom.iter_mut().find(|v| v["event"] == "like").unwrap();
    like["properties"]["my_own"] = json!({"any": [1]});
    assert!(
        check_round_trip(&custom).unwrap().is_empty(),
        "custom properties allowed"
    );
}
