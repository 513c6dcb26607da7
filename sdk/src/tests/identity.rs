//! Identity: hashing of user ids and contact traits, refused traits, alias and
//! group messages, and reset.

use super::*;

#[test]
fn identify_hashes_normalised_identifiers() {
    let mut h = harness();
    let hasher = crate::identity::Hasher::new(Some(b"test-hash-key"));
    h.engine
        .identify(
            " user-42 ",
            json!({"email":"  Alice@Example.COM ","phone":"+33 6 12-34-56-78","plan":"pro"}),
        )
        .unwrap();
    h.track_n(1);
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    let want_uid = hasher.user_id("user-42");
    assert_eq!(want_uid.len(), 64);
    assert_eq!(msgs[0]["type"], "identify");
    assert_eq!(msgs[0]["userId"], want_uid);
    assert_eq!(
        msgs[0]["traits"]["email"],
        hasher.email("alice@example.com")
    );
    assert_eq!(msgs[0]["traits"]["phone"], hasher.phone("+33612345678"));
    assert_eq!(msgs[0]["traits"]["plan"], "pro");
    assert_eq!(
        msgs[1]["userId"], want_uid,
        "later events carry the hashed user"
    );
    // The SDK says what it hashed; the collector guesses nothing.
    assert_eq!(
        msgs[0]["context"]["hashed"],
        json!(["userId", "traits.email", "traits.phone"])
    );
    assert_eq!(msgs[1]["context"]["hashed"], json!(["userId"]));
    let text = serde_json::to_string(&msgs).unwrap();
    for raw in [
        "user-42",
        "alice@example.com",
        "Alice@Example.COM",
        "612345678",
    ] {
        assert!(!text.contains(raw), "raw identifier {raw} leaked");
    }
}

#[test]
fn contact_traits_are_hashed_in_any_case_by_identify_and_group() {
    let mut h = harness();
    let hasher = crate::identity::Hasher::new(Some(b"test-hash-key"));
    h.engine
        .identify(
            "u1",
            json!({"Email":" A@B.com ","PHONE":33612345678u64,"phone_2":"x"}),
        )
        .unwrap();
    h.engine
        .group(
            "acme",
            json!({"EMAIL":"Billing@Acme.io","phone":"+1 555","email_ok":null}),
        )
        .unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    assert_eq!(msgs[0]["traits"]["Email"], hasher.email("a@b.com"));
    assert_eq!(msgs[0]["traits"]["PHONE"], hasher.phone("33612345678"));
    assert_eq!(msgs[0]["traits"]["phone_2"], "x", "only the exact names");
    assert_eq!(msgs[1]["traits"]["EMAIL"], hasher.email("billing@acme.io"));
    assert_eq!(msgs[1]["traits"]["phone"], hasher.phone("+1555"));
}

#[test]
fn contact_traits_of_other_types_are_refused_and_nothing_changes() {
    let mut h = harness();
    h.engine.identify("u1", Value::Null).unwrap();
    let user = h.engine.user_id().map(str::to_string);
    let queued = h.engine.queued();
    for traits in [
        json!({"email": ["a@b.com"]}),
        json!({"Phone": {"n": "+33612345678"}}),
        json!({"email": true}),
        json!({"phone": 3.5}),
        json!({"phone": -1}),
    ] {
        let err = h.engine.identify("u2", traits.clone()).unwrap_err();
        assert!(matches!(err, Error::NotAnObject), "{traits}: {err:?}");
        let err = h.engine.group("g", traits.clone()).unwrap_err();
        assert!(matches!(err, Error::NotAnObject), "{traits}: {err:?}");
    }
    assert_eq!(h.engine.user_id().map(str::to_string), user);
    assert_eq!(h.engine.queued(), queued);
}

#[test]
fn identify_and_alias_leave_the_user_unchanged_on_error() {
    let mut cfg = test_config();
    cfg.hash_identities = false; // so a long id makes a long message
    cfg.hash_key.clear();
    let mut h = harness_with(cfg);
    h.grant(Consent::all());
    h.engine.identify("u1", Value::Null).unwrap();
    let big = json!({ "blob": "z".repeat(33 * 1024) });
    assert!(matches!(
        h.engine.identify("u2", big),
        Err(Error::EventTooLarge { .. })
    ));
    assert_eq!(h.engine.user_id(), Some("u1"));
    assert!(matches!(
        h.engine.alias(&"u".repeat(33 * 1024)),
        Err(Error::EventTooLarge { .. })
    ));
    assert_eq!(h.engine.user_id(), Some("u1"));
    assert_eq!(h.store.get("user_id").unwrap().as_deref(), Some(&b"u1"[..]));
    // Not consented: the user is still remembered.
    h.engine.set_consent(Consent::none()).unwrap();
    h.engine.identify("u3", Value::Null).unwrap();
    assert_eq!(h.engine.user_id(), Some("u3"));
}

#[test]
fn hashing_can_be_turned_off() {
    let mut cfg = test_config();
    cfg.hash_identities = false;
    cfg.hash_key.clear();
    let mut h = harness_with(cfg);
    h.grant(Consent::all());
    h.engine
        .identify("user-42", json!({"email":"A@B.com"}))
        .unwrap();
    assert_eq!(h.engine.user_id(), Some("user-42"));
    h.engine.flush().unwrap();
    let sent = batch(&h.upload_now());
    assert_eq!(sent[0]["traits"]["email"], "A@B.com");
    assert!(sent[0]["context"].get("hashed").is_none(), "nothing hashed");
}

#[test]
fn hashing_without_a_key_is_a_config_error() {
    let mut cfg = test_config();
    cfg.hash_key.clear();
    let err = Engine::new(
        cfg,
        Arc::new(MemoryStore::new()),
        Arc::new(ManualClock::new(T0)),
    );
    assert!(matches!(err, Err(Error::Config(_))));
}

#[test]
fn alias_and_group_messages() {
    let mut h = harness();
    let anon = h.engine.anonymous_id().to_string();
    h.engine.alias("new-user").unwrap();
    h.engine.group("acme", json!({"plan":"team"})).unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    let hasher = crate::identity::Hasher::new(Some(b"test-hash-key"));
    assert_eq!(msgs[0]["type"], "alias");
    assert_eq!(msgs[0]["previousId"], anon);
    assert_eq!(msgs[0]["userId"], hasher.user_id("new-user"));
    assert_eq!(msgs[1]["type"], "group");
    assert_eq!(msgs[1]["groupId"], "acme");
    assert_eq!(msgs[1]["traits"]["plan"], "team");
}

#[test]
fn reset_makes_a_new_identity_and_session() {
    let mut h = harness();
    h.engine.identify("u1", Value::Null).unwrap();
    let anon = h.engine.anonymous_id().to_string();
    let session = h.engine.session_id().to_string();
    h.engine.reset().unwrap();
    assert_ne!(h.engine.anonymous_id(), anon);
    assert_eq!(h.engine.user_id(), None);
    assert_ne!(h.engine.session_id(), session);
    let anon2 = h.engine.anonymous_id().to_string();
    // Identity persists across restarts (and the cleared user stays cleared).
    drop(h.engine);
    let e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    assert_eq!(e2.anonymous_id(), anon2);
    assert_eq!(e2.user_id(), None);
    uuid::Uuid::parse_str(&anon2).unwrap();
}
