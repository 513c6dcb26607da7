//! One identity per person, and links that cannot be forged, on the real binary: a raw
//! user id from a server library and the device hash of the same id (listed in
//! `context.hashed`) are one stored pseudonym and one deletion; a client key's alias
//! cannot reach another user's events; a server key's alias does link.

mod api_support;

use api_support::*;
use cairn_protocol::identity::{Contact, ProjectHasher};
use cairn_testkit::{
    device_user_id, stored_user_id, PROJECT_HASH_KEY, SERVER_WRITE_KEY, SERVER_WRITE_KEY_SOURCE,
    WRITE_KEY, WRITE_KEY_SOURCE,
};
use serde_json::{json, Value};

fn accepted(reply: &Reply, n: u64) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["accepted"], n, "{}", reply.text);
    assert_eq!(reply.json()["rejected"], json!([]), "{}", reply.text);
}

/// The tombstone record last in the feed.
fn last_tombstone(c: &cairn_testkit::CollectorProcess) -> Value {
    let tombstone = c.feed(0).pop().expect("a record");
    assert_eq!(tombstone["kind"], "tombstone", "{tombstone}");
    tombstone
}

#[test]
fn a_raw_user_id_and_its_device_hash_are_one_pseudonym_and_one_deletion() {
    let c = start("id-one-person", &[]);
    let raw = "person-7f3a";
    let email = " Person.7F3A@Example.com ";
    let device = device_user_id(raw);
    let device_email =
        ProjectHasher::new(PROJECT_HASH_KEY.as_bytes()).contact(Contact::Email, email);
    // The backend's Segment library sends the raw ids.
    let server = json!({"batch": [
        {"type": "identify", "messageId": "srv-1", "userId": raw, "traits": {"email": email}},
        {"type": "track", "messageId": "srv-2", "userId": raw, "event": "purchase",
         "properties": {"order_id": "o-server-path"}}
    ]});
    accepted(&post_json_as(&c, SERVER_WRITE_KEY, "/v1/batch", &server), 2);
    // The SDK hashed them on the device and says which fields it hashed.
    let device_batch = json!({"batch": [
        {"type": "identify", "messageId": "dev-1", "userId": device, "anonymousId": "device-anon-1",
         "traits": {"email": device_email}, "context": {"hashed": ["userId", "traits.email"]}},
        {"type": "track", "messageId": "dev-2", "userId": device, "event": "add_to_cart",
         "properties": {"product_id": "p-device-path"}, "context": {"hashed": ["userId"]}},
        {"type": "page", "messageId": "dev-3", "anonymousId": "device-anon-1", "name": "Home"},
        {"type": "track", "messageId": "other-1", "userId": "someone-else", "event": "click"}
    ]});
    accepted(&post_json(&c, "/v1/batch", &device_batch), 4);

    let expected = stored_user_id(raw);
    for id in ["srv-1", "srv-2", "dev-1", "dev-2"] {
        assert_eq!(stored(&c, id)["userId"], expected, "{id}");
    }
    assert_eq!(
        stored(&c, "srv-1")["traits"]["email"],
        stored(&c, "dev-1")["traits"]["email"]
    );
    assert_eq!(
        stored(&c, "dev-1")["context"]["hashed"],
        json!(["userId", "traits.email"]),
        "context.hashed is kept"
    );
    for record in feed_events(&c) {
        let key = record["key"].as_str().unwrap();
        let source = if key.starts_with("srv-") {
            SERVER_WRITE_KEY_SOURCE
        } else {
            WRITE_KEY_SOURCE
        };
        assert_eq!(record["source"], source, "{record}");
    }

    let reply = delete_user(&c, raw);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["userId"], expected);
    assert_eq!(
        reply.json()["deletedEvents"],
        5,
        "both paths and the device's page"
    );
    assert_eq!(feed_keys(&c), ["other-1"]);

    // No byte of the data dir holds the raw values, the device hashes, or anything of
    // the deleted events; the pseudonym is left only in the tombstone.
    let dir = &c.data_dir;
    for gone in [
        raw,
        &device,
        &device_email,
        "person.7f3a",
        "o-server-path",
        "p-device-path",
    ] {
        assert_eq!(
            occurrences_in_dir(dir, gone.as_bytes()),
            0,
            "{gone} remains"
        );
    }
    let tombstone = last_tombstone(&c);
    assert!(tombstone.get("source").is_none(), "{tombstone}");
    assert_eq!(
        occurrences_in_dir(dir, expected.as_bytes()),
        occurrences(tombstone.to_string().as_bytes(), expected.as_bytes()),
        "the pseudonym is only in the tombstone"
    );

    // An id that is the device hash already is deleted with hashed=true.
    let other = device_user_id("person-2");
    let hashed = json!({"type": "track", "messageId": "dev-4", "userId": other, "event": "click",
        "context": {"hashed": ["userId"]}});
    accepted(&post_json(&c, "/v1/batch", &json!({"batch": [hashed]})), 1);
    let reply = delete_user(&c, &format!("{other}?hashed=true"));
    assert_eq!(reply.json()["deletedEvents"], 1, "{}", reply.text);
    assert_eq!(reply.json()["userId"], stored_user_id("person-2"));
    assert_eq!(delete_user(&c, "raw?hashed=true").error(), "invalid_id");
}

#[test]
fn a_client_alias_cannot_reach_another_users_events() {
    let c = start("id-forgery", &[]);
    let victim = json!({"batch": [
        {"type": "identify", "messageId": "v-1", "userId": "victim", "anonymousId": "victim-anon"},
        {"type": "track", "messageId": "v-2", "userId": "victim", "event": "purchase"},
        {"type": "page", "messageId": "v-3", "anonymousId": "victim-anon", "name": "Home"}
    ]});
    accepted(&post_json(&c, "/v1/batch", &victim), 3);
    // A page's (public) client key: aliases naming someone else are kept as events,
    // but link nothing.
    let attacker = json!({"batch": [
        {"type": "alias", "messageId": "x-1", "previousId": "victim", "userId": "attacker",
         "anonymousId": "attacker-anon"},
        {"type": "alias", "messageId": "x-2", "previousId": "victim-anon", "userId": "attacker",
         "anonymousId": "attacker-anon"},
        {"type": "track", "messageId": "x-3", "userId": "attacker", "event": "click"}
    ]});
    let reply = post_json_as(&c, WRITE_KEY, "/v1/batch", &attacker);
    accepted(&reply, 3);
    await_metric(
        &c,
        "cairn_identity_links_refused_total{reason=\"client_alias\"}",
        |v| v == 2.0,
    );
    // A retry is acknowledged as a duplicate and not counted again.
    let retry = post_json_as(&c, WRITE_KEY, "/v1/batch", &attacker);
    assert_eq!(retry.json()["duplicates"], 3, "{}", retry.text);
    let refused = metric(
        &metrics(&c),
        "cairn_identity_links_refused_total{reason=\"client_alias\"}",
    );
    assert_eq!(refused, Some(2.0));

    let reply = delete_user(&c, "attacker");
    assert_eq!(reply.json()["deletedEvents"], 3, "{}", reply.text);
    assert_eq!(
        feed_keys(&c),
        ["v-1", "v-2", "v-3"],
        "the victim's events stay"
    );
    let tombstone = last_tombstone(&c);
    assert_eq!(
        tombstone["value"]["identities"].as_array().unwrap().len(),
        2,
        "the attacker and its own anonymous id: {tombstone}"
    );

    // A client may alias its own anonymous id to its user.
    let own = json!({"type": "alias", "messageId": "o-1", "previousId": "own-anon",
        "userId": "owner", "anonymousId": "own-anon"});
    let anon = json!({"type": "page", "messageId": "o-2", "anonymousId": "own-anon"});
    accepted(
        &post_json(&c, "/v1/batch", &json!({"batch": [own, anon]})),
        2,
    );
    assert_eq!(delete_user(&c, "owner").json()["deletedEvents"], 2);

    // The backend's server key may link two user ids: the new id reaches the old one's
    // events, and the anonymous ids tied to it.
    let link = json!({"type": "alias", "messageId": "s-1", "previousId": "victim",
        "userId": "victim-renamed"});
    accepted(&post_json_as(&c, SERVER_WRITE_KEY, "/v1/alias", &link), 1);
    let reply = delete_user(&c, "victim-renamed");
    assert_eq!(reply.json()["deletedEvents"], 4, "{}", reply.text);
    assert!(feed_keys(&c).is_empty());
    let refused = metric(
        &metrics(&c),
        "cairn_identity_links_refused_total{reason=\"client_alias\"}",
    );
    assert_eq!(refused, Some(2.0));
}
