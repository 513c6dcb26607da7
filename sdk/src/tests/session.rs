//! Sessions: rotation after inactivity and survival across a restart.

use super::*;

#[test]
fn session_rotates_after_30_minutes_of_inactivity() {
    let mut h = harness();
    h.track_n(1);
    let s1 = h.engine.session_id().to_string();
    h.clock.advance(Duration::from_secs(29 * 60));
    h.track_n(1);
    assert_eq!(
        h.engine.session_id(),
        s1,
        "activity within 30 min keeps the session"
    );
    h.clock.advance(Duration::from_secs(29 * 60));
    h.track_n(1);
    assert_eq!(
        h.engine.session_id(),
        s1,
        "the timeout counts from the last activity"
    );
    h.clock.advance(Duration::from_secs(30 * 60 + 1));
    h.track_n(1);
    let s2 = h.engine.session_id().to_string();
    assert_ne!(s2, s1);
    h.clock.advance(Duration::from_secs(31 * 60));
    h.engine.on_foreground();
    assert_ne!(
        h.engine.session_id(),
        s2,
        "foreground after the timeout starts a session"
    );
    h.engine.flush().unwrap();
    let sessions: Vec<Value> = batch(&h.upload_now())
        .iter()
        .map(|m| m["context"]["sessionId"].clone())
        .collect();
    assert_eq!(sessions, vec![json!(s1), json!(s1), json!(s1), json!(s2)]);
}

#[test]
fn session_survives_a_restart_within_the_timeout() {
    let mut h = harness();
    h.track_n(1);
    let s1 = h.engine.session_id().to_string();
    h.engine.flush().unwrap(); // sync writes the session
    drop(h.engine);
    h.clock.advance(Duration::from_secs(60));
    let mut e2 = Engine::new(test_config(), h.store.clone(), Arc::new(h.clock.clone())).unwrap();
    e2.track("x", Value::Null).unwrap();
    assert_eq!(e2.session_id(), s1);
}
