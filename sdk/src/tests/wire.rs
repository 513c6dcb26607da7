//! Wire format: the Segment batch body with the Cairn context.

use super::*;

#[test]
fn wire_format_is_segment_batch_with_cairn_context() {
    let mut cfg = test_config();
    cfg.write_key_in_body = true;
    cfg.context.os = Some(Os {
        name: Some("Linux".into()),
        version: Some("6.1".into()),
    });
    cfg.context.locale = Some("en-GB".into());
    cfg.context.timezone = Some("Europe/London".into());
    let mut h = harness_with(cfg);
    h.grant(Consent::only(&[
        Purpose::Analytics,
        Purpose::Personalization,
    ]));
    h.engine
        .track_event(Event::add_to_cart("sku-1", 2))
        .unwrap();
    h.engine.page("Home", json!({"path":"/"})).unwrap();
    h.engine.screen("Cart", Value::Null).unwrap();
    h.engine
        .track_event(Event::hide_item("sku-9").purpose(Purpose::Personalization))
        .unwrap();
    h.engine.flush().unwrap();
    let u = h.upload_now();

    assert_eq!(u.url, "http://collector.test/v1/batch");
    let header = |k: &str| {
        u.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("Content-Type").as_deref(), Some("application/json"));
    assert_eq!(header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        header("Authorization").as_deref(),
        Some("Basic d2tfdGVzdDo=")
    ); // "wk_test:"

    let body = decode(&u);
    assert_eq!(body["writeKey"], "wk_test");
    assert_eq!(body["sentAt"], "2025-11-01T12:26:40.000Z");
    let msgs = body["batch"].as_array().unwrap();
    let m = &msgs[0];
    assert_eq!(m["type"], "track");
    assert_eq!(m["event"], "add_to_cart");
    assert_eq!(m["properties"], json!({"product_id":"sku-1","quantity":2}));
    let id = uuid::Uuid::parse_str(m["messageId"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(m["anonymousId"], h.engine.anonymous_id());
    assert!(m.get("userId").is_none());
    chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap()).unwrap();
    let ctx = &m["context"];
    assert_eq!(ctx["library"]["name"], "cairn-rust");
    assert_eq!(ctx["os"]["name"], "Linux");
    assert_eq!(ctx["locale"], "en-GB");
    assert_eq!(ctx["timezone"], "Europe/London");
    assert_eq!(ctx["sessionId"], h.engine.session_id());
    assert_eq!(
        ctx["consent"],
        json!({"analytics":true,"personalization":true,"marketing":false})
    );
    assert_eq!(ctx["purpose"], "analytics");
    assert_eq!(
        ctx["dropped"],
        json!({"overflow":0,"expired":0,"rejected":0,"too_large":0})
    );
    assert_eq!(msgs[1]["type"], "page");
    assert_eq!(msgs[1]["name"], "Home");
    assert_eq!(msgs[2]["type"], "screen");
    assert_eq!(msgs[3]["context"]["purpose"], "personalization");
    // messageIds are UUIDv7: they sort in tracking order.
    let all: Vec<&str> = msgs
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
}
