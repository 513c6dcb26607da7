//! The JSON-text calls (the web tracker's path): `track_json`, `identify_json`,
//! `group_json`, the event context, and the web driver's `abandon_upload` and
//! `reload_events`. The text path and the `Value` path send the same bytes.

use super::*;

#[test]
fn text_and_value_calls_send_the_same_message() {
    let mut a = harness();
    let mut b = harness();
    let props = json!({"z": [1, {"b": null}], "a": "é\"\n", "n": -1.5e3});
    a.engine.track("e", props.clone()).unwrap();
    let text = serde_json::to_string(&props).unwrap();
    b.engine
        .track_json(EventKind::Track, "e", &text, Purpose::Analytics)
        .unwrap();
    let traits = json!({"Email": " A@B.com ", "phone": 33612345678u64, "name": "x", "PHONE": null});
    a.engine.identify("u1", traits.clone()).unwrap();
    b.engine
        .identify_json("u1", &serde_json::to_string(&traits).unwrap())
        .unwrap();
    a.engine.group("g1", json!({"email": "c@d.org"})).unwrap();
    b.engine
        .group_json("g1", r#" { "email" : "c@d.org" } "#)
        .unwrap();
    let (ua, ub) = (a.wait_for_upload().0, b.wait_for_upload().0);
    let strip = |mut v: Vec<Value>| {
        for m in &mut v {
            for k in ["messageId", "timestamp", "anonymousId"] {
                m.as_object_mut().unwrap().remove(k);
            }
            m["context"].as_object_mut().unwrap().remove("sessionId");
        }
        v
    };
    assert_eq!(strip(batch(&ua)), strip(batch(&ub)));
    let sent = batch(&ub);
    assert_eq!(sent[0]["properties"], props, "properties as written");
    assert_eq!(
        sent[1]["context"]["hashed"],
        json!(["userId", "traits.Email", "traits.phone"])
    );
    assert_eq!(sent[1]["traits"]["PHONE"], Value::Null);
    assert_eq!(sent[2]["traits"]["email"].as_str().unwrap().len(), 64);
}

#[test]
fn whole_number_phones_hash_as_their_digits() {
    let mut h = harness();
    let numbers = ["0", "33612345678", "18446744073709551615"];
    for n in numbers {
        for traits in [
            format!(r#"{{"phone":{n}}}"#),
            format!(r#"{{"phone":"{n}"}}"#),
        ] {
            h.engine.identify_json("u", &traits).unwrap();
        }
    }
    let sent = batch(&h.wait_for_upload().0);
    assert_eq!(sent.len(), 2 * numbers.len());
    for pair in sent.chunks(2) {
        let number = pair[0]["traits"]["phone"].as_str().unwrap();
        assert_eq!(number.len(), 64);
        assert_eq!(number, pair[1]["traits"]["phone"].as_str().unwrap());
    }
}

#[test]
fn text_calls_refuse_what_is_not_an_object() {
    let mut h = harness();
    for bad in ["[1]", "1", "{", r#"{"a":1}x"#, r#"{"a":"\ud800"}"#] {
        let r = h
            .engine
            .track_json(EventKind::Track, "e", bad, Purpose::Analytics);
        assert!(matches!(r, Err(Error::NotAnObject)), "{bad}");
    }
    for bad in [
        r#"{"email":true}"#,
        r#"{"phone":1.5}"#,
        r#"{"phone":-3}"#,
        r#"{"phone":1e3}"#,
        r#"{"phone":18446744073709551616}"#,
        r#"{"phone":007}"#,
    ] {
        assert!(
            matches!(h.engine.identify_json("u", bad), Err(Error::NotAnObject)),
            "{bad}"
        );
    }
    assert_eq!(
        h.engine.user_id(),
        None,
        "the user is unchanged after an error"
    );
    for none in ["", "null", " {} "] {
        let r = h
            .engine
            .track_json(EventKind::Page, "", none, Purpose::Analytics);
        assert_eq!(r.unwrap(), Tracked::Queued);
    }
    assert_eq!(h.engine.queued(), 3);
}

#[test]
fn event_context_rides_on_events_but_not_on_the_consent_record() {
    let mut h = harness();
    assert!(h
        .engine
        .set_event_context(r#""page":{"path":"/a""#)
        .is_err());
    h.engine
        .set_event_context(r#""page":{"path":"/a"},"viewport":{"width":390}"#)
        .unwrap();
    h.engine.track("e", json!({})).unwrap();
    h.engine
        .set_consent(Consent::only(&[Purpose::Analytics]))
        .unwrap();
    h.engine.set_event_context("").unwrap();
    h.engine.track("f", json!({})).unwrap();
    let sent = batch(&h.wait_for_upload().0);
    assert_eq!(sent[0]["context"]["page"]["path"], "/a");
    assert_eq!(sent[0]["context"]["viewport"]["width"], 390);
    assert_eq!(sent[0]["context"]["purpose"], "analytics");
    assert_eq!(sent[1]["event"], "consent_changed");
    assert!(
        sent[1]["context"].get("page").is_none(),
        "the record carries the choice only"
    );
    assert!(sent[2]["context"].get("page").is_none());
}

#[test]
fn an_abandoned_upload_goes_again_without_backoff() {
    let mut h = harness();
    h.track_n(3);
    h.engine.flush().unwrap();
    let first = h.upload_now();
    h.track_n(1);
    h.engine.abandon_upload(first.id);
    assert_eq!((h.engine.failures(), h.engine.retry_in()), (0, None));
    h.engine.flush().unwrap();
    let again = h.upload_now();
    assert_eq!(
        again.events, 4,
        "the abandoned events first, then the new one"
    );
    assert_eq!(
        ids(&again)[..3],
        ids(&first)[..],
        "same messageIds: the collector keeps one copy"
    );
    h.engine
        .upload_finished(first.id, Outcome::status(200))
        .unwrap();
    assert_eq!(
        h.engine.queued(),
        4,
        "a late answer to the abandoned upload is ignored"
    );
    h.finish(&again, 200);
    assert_eq!(h.engine.queued(), 0);
}

#[test]
fn reload_events_takes_in_events_written_to_the_store() {
    let mut h = harness();
    h.track_n(2);
    h.engine.sync().unwrap();
    // Another engine over the same store (a closed tab's events, as the web adopts them).
    let mut other = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    other.track("from_other", json!({})).unwrap();
    other.sync().unwrap();
    h.engine.flush().unwrap();
    let u = h.upload_now();
    assert!(
        !h.engine.reload_events().unwrap(),
        "not with an upload in flight"
    );
    h.finish(&u, 200);
    assert!(h.engine.reload_events().unwrap());
    assert_eq!(h.engine.queued(), 1);
    h.engine.flush().unwrap();
    assert_eq!(batch(&h.upload_now())[0]["event"], "from_other");
}
