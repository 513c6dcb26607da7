//! The consent record on the real binary: `consent_changed` with purpose `consent` is
//! accepted whatever `context.consent` says (it is the record of the choice), and
//! refused, per event, when it carries anything but the three purpose flags; no other
//! event may claim the purpose `consent`.

mod api_support;

use api_support::*;
use cairn_protocol::{events::CONSENT_CHANGED, field::CONSENT_RECORD_PURPOSE};
use serde_json::{json, Value};

fn record(id: &str, properties: Value) -> Value {
    json!({"type": "track", "event": CONSENT_CHANGED, "messageId": id, "anonymousId": "a-1",
           "properties": properties,
           "context": {"purpose": CONSENT_RECORD_PURPOSE,
                       "consent": {"analytics": false, "personalization": false, "marketing": false}}})
}

#[test]
fn the_consent_record_needs_no_consent_and_carries_nothing_else() {
    let c = start("consent-record", &[]);
    let revoked = json!({"analytics": false, "personalization": false, "marketing": false});
    let mut extra = revoked.clone();
    extra["product_id"] = json!("p-1");
    let body = json!({"batch": [
        record("revoke", revoked.clone()),
        record("extra", extra),
        record("missing", json!({"analytics": false})),
        record("not-bool", json!({"analytics": "no", "personalization": false, "marketing": false})),
        {"type": "track", "event": "purchase", "messageId": "claims", "anonymousId": "a-1",
         "context": {"purpose": "consent", "consent": {"analytics": false}}},
        {"type": "track", "event": "purchase", "messageId": "denied", "anonymousId": "a-1",
         "context": {"consent": {"analytics": false}}}
    ]});
    let reply = post_json(&c, "/v1/batch", &body);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reasons: Vec<(String, String)> = reply.json()["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["messageId"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("extra", "invalid_consent_record"),
        ("missing", "invalid_consent_record"),
        ("not-bool", "invalid_consent_record"),
        ("claims", "invalid_purpose"),
        ("denied", "consent"),
    ];
    assert_eq!(
        reasons,
        expected.map(|(id, reason)| (id.to_owned(), reason.to_owned())),
    );
    assert_eq!(feed_keys(&c), ["revoke"]);
    assert_eq!(stored(&c, "revoke")["properties"], revoked);

    // The single-event endpoint: the record is accepted, a bad one is the request's error.
    let reply = post_json(&c, "/v1/track", &record("single", revoked));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = post_json(&c, "/v1/track", &record("single-bad", json!({})));
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_consent_record");
}
