//! The ingest parser's fuzz entry point (see `store::fuzz`): the body as `/v1/batch`
//! and as `/v1/track` would take it, envelope, events, validation, enrichment and
//! pseudonymisation. Any input must give events or a typed refusal, never a panic, and
//! every accepted event must serialise to JSON within the stored-size bound.

use std::sync::{Arc, OnceLock};

use cairn_protocol::{identity::ProjectHasher, Kind};
use chrono::{TimeZone, Utc};

use super::Ingest;
use crate::{keys::WriteKey, privacy::Pseudonymiser, Limits};

fn ingest() -> &'static Ingest {
    static INGEST: OnceLock<Ingest> = OnceLock::new();
    INGEST.get_or_init(|| {
        Ingest::new(
            Limits::default(),
            Pseudonymiser::new("fuzz-hash-secret", true),
        )
    })
}

fn key() -> WriteKey {
    WriteKey {
        id: *b"fuzz-key",
        source: "fuzz".into(),
        server: false,
        project: Arc::new(ProjectHasher::new(b"fuzz-project")),
    }
}

pub fn parse(data: &[u8]) {
    let received = Utc.timestamp_opt(1_780_000_000, 0).unwrap();
    let limits = Limits::default();
    for endpoint in [None, Some(Kind::Track)] {
        if let Ok(parsed) = ingest().parse(data, endpoint, received, |_| Ok(key())) {
            for (_, event, _) in &parsed.events {
                let value: serde_json::Value =
                    serde_json::from_slice(&event.json).expect("stored events are JSON");
                assert!(value.is_object());
                assert!(event.json.len() <= 4 * limits.max_batch_bytes);
            }
            assert!(parsed.rejected.len() <= super::MAX_LISTED_REJECTIONS);
        }
    }
}
