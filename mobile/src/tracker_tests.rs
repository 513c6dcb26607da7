//! The batch calls the Kotlin layer's hand-off thread makes (`trackMany`,
//! `trackEvents`): every good event of a batch is stored even when one is refused,
//! and the refusal is the call's error (the order is checked end to end by
//! `tests/foreign.rs`, `kotlin_track_and_track_event_batches_keep_call_order`).

use crate::consent::ConsentState;
use crate::error::CairnError;
use crate::seed_event::SeedEvent;
use crate::tracker::{TrackCall, TrackEventCall, Tracker};
use crate::uploader::{HttpUploader, UploadRequest, UploadResult};
use crate::TrackerConfig;
use std::sync::Arc;

/// Never called: flushAt is out of reach (a stand-in; nothing is uploaded here).
struct NoUploads;

impl HttpUploader for NoUploads {
    fn upload(&self, _: UploadRequest) -> UploadResult {
        UploadResult::Transport {
            message: "this test uploads nothing".into(),
        }
    }
}

fn cart(quantity: i32) -> TrackEventCall {
    TrackEventCall {
        event: SeedEvent::AddToCart {
            product_id: "sku-1".into(),
            quantity,
            name: None,
            price: None,
            currency: None,
            category: None,
            brand: None,
            variant: None,
            position: None,
            list: None,
        },
        properties_json: None,
        purpose: None,
    }
}

fn custom(name: &str, json: &str) -> TrackCall {
    TrackCall {
        event: name.into(),
        properties_json: Some(json.into()),
        purpose: None,
    }
}

#[test]
fn a_refused_event_in_a_batch_does_not_stop_the_others() {
    let dir = cairn_testkit::temp_dir("mobile-batch-calls");
    let t = Tracker::new(
        TrackerConfig {
            flush_at: 1_000_000,
            flush_interval_ms: 3_600_000,
            max_queue_bytes: 1 << 20,
            request_timeout_ms: 1_000,
            ..TrackerConfig::new(
                "k",
                "http://127.0.0.1:9",
                &dir.to_string_lossy(),
                "hash-key",
            )
        },
        Arc::new(NoUploads),
    )
    .expect("tracker");
    t.set_consent(ConsentState {
        analytics: true,
        personalization: false,
        marketing: false,
    })
    .unwrap();
    let base = t.queued().unwrap(); // the consent record
    let typed = t.track_events(vec![cart(1), cart(-1), cart(2)]);
    match typed {
        Err(CairnError::InvalidArgument(m)) => {
            assert_eq!(m, "quantity is -1, not 1..=2147483647")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    assert_eq!(t.queued().unwrap(), base + 2);
    let many = t.track_many(vec![
        custom("a", "{}"),
        custom("b", "not json"),
        custom("c", "{\"n\":1}"),
    ]);
    assert!(
        matches!(many, Err(CairnError::InvalidJson { .. })),
        "{many:?}"
    );
    assert_eq!(t.queued().unwrap(), base + 4);
    drop(t); // stops the threads before the directory goes
}
