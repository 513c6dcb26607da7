//! Every app event of the table round-trips from its generated Rust constructor:
//! `Event::<name>(samples...)` -> native Client -> the real collector -> feed, where
//! each event's properties equal what was sent and validate against
//! docs/schema/events/<name>.json (`cairn_codegen::check_round_trip`), and so do
//! those of the SDK's own event, the consent record of `set_consent`.

mod samples;

use cairn::{Consent, Tracked};
use cairn_e2e::*;
use std::time::Duration;

#[test]
fn every_rust_constructor_round_trips_against_its_schema() {
    let dir = temp_dir("roundtrip-rust");
    let collector = CollectorProcess::start(collector_bin(), dir.join("collector"), &[]);
    let rt = runtime();
    let client = client(&rt, config(&collector.url), &dir.join("sdk"));
    client.set_consent(Consent::all()).unwrap();
    let events = samples::events();
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        cairn_codegen::app_event_names(),
        "one call per app event"
    );
    for (name, event) in events {
        assert_eq!(
            client.track_event(event).unwrap(),
            Tracked::Queued,
            "{name}"
        );
    }
    flush_until_delivered(&rt, &client, Duration::from_secs(20));
    let feed: Vec<_> = collector
        .wait_for_events(names.len(), Duration::from_secs(20))
        .into_iter()
        .map(|r| r["value"].clone())
        .collect();
    let problems = cairn_codegen::check_round_trip(&feed).expect("schemas readable");
    assert!(problems.is_empty(), "{problems:#?}");
    // The table's SDK event too: the record of the consent choice (checked above).
    let record = cairn_protocol::events::CONSENT_CHANGED;
    let records: Vec<_> = feed.iter().filter(|v| v["event"] == record).collect();
    assert_eq!(records.len(), 1, "the record of set_consent: {feed:#?}");
    assert_eq!(records[0]["properties"]["marketing"], true);
}
