//! What the calls accept and refuse: nameless pages and screens are fine;
//! oversized, nameless or non-object events are refused at the call.

use super::*;

#[test]
fn pages_and_screens_may_be_nameless() {
    let mut h = harness();
    assert_eq!(
        h.engine.page("", json!({"path":"/"})).unwrap(),
        Tracked::Queued
    );
    assert_eq!(h.engine.screen(" ", Value::Null).unwrap(), Tracked::Queued);
    h.engine.track_event(Event::page_view("")).unwrap();
    h.engine.flush().unwrap();
    let msgs = batch(&h.upload_now());
    assert_eq!(msgs.len(), 3);
    assert!(
        msgs.iter().all(|m| m.get("name").is_none()),
        "sent without name"
    );
    assert_eq!(msgs[0]["properties"]["path"], "/");
}

#[test]
fn oversized_or_nameless_events_are_refused_at_the_call() {
    let mut h = harness();
    let err = h
        .engine
        .track("big", json!({ "blob": "z".repeat(33 * 1024) }))
        .unwrap_err();
    assert!(
        matches!(err, Error::EventTooLarge { max: 32768, .. }),
        "{err:?}"
    );
    assert!(matches!(
        h.engine.track("", Value::Null),
        Err(Error::EmptyName)
    ));
    assert!(matches!(
        h.engine.track("  ", Value::Null),
        Err(Error::EmptyName)
    ));
    assert!(matches!(
        h.engine.identify("", Value::Null),
        Err(Error::EmptyName)
    ));
    assert!(matches!(
        h.engine.track("x", json!("str")),
        Err(Error::NotAnObject)
    ));
    assert_eq!(h.store.event_count(), 0);
    assert_eq!(h.engine.queued(), 0);
}
