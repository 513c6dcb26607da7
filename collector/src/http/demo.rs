//! The demo shop's own endpoints, routed only with `--demo-dir`: `/` and `/demo` lead
//! to `/demo/`, and `GET /demo/api/events?anonymousId=<id>&after=<cursor>` lists the
//! stored events of one visitor, so the shop can show what reached the collector
//! without holding the read key.
//!
//! Exposure, accepted for a demo only: anyone who knows an anonymous id can read the
//! events stored under it (pseudonymised as in the feed). A production collector is
//! started without `--demo-dir` and has no such route.

use std::time::Duration;

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::CollectorError;

/// Feed records one call scans; the page polls again from `next` for the rest.
const SCAN_RECORDS: usize = 5_000;
/// Bytes of feed one call scans at most.
const SCAN_BYTES: usize = 4 * 1024 * 1024;
/// Events one answer lists at most (the newest kept).
const MAX_EVENTS: usize = 200;
/// Longest wait for something new, in seconds.
const MAX_WAIT_SECS: u64 = 10;

pub async fn to_demo() -> Redirect {
    Redirect::to("/demo/")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    anonymous_id: String,
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait: u64,
}

/// `{"events": [{"cursor", "source", "value"}...], "next": <cursor>}`: the visitor's
/// events among the records after `after`; `next` is where the scan stopped (pass it
/// as `after`). With `wait`, an empty scan at the end of the log waits for a commit.
pub async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, CollectorError> {
    let Query(q) =
        query.map_err(|e| CollectorError::bad_request("invalid_query", e.body_text()))?;
    if q.anonymous_id.is_empty() {
        return Err(CollectorError::bad_request(
            "missing_id",
            "anonymousId is required",
        ));
    }
    let s = &state.inner;
    let mut committed = s.committed.clone();
    if q.wait > 0 && *committed.borrow() <= q.after {
        let wait = Duration::from_secs(q.wait.min(MAX_WAIT_SECS));
        let mut stopping = s.stopping.clone();
        tokio::select! {
            _ = tokio::time::timeout(wait, committed.wait_for(|c| *c > q.after)) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    }
    let store = s.store.clone();
    let lines = tokio::task::spawn_blocking(move || store.read(q.after, SCAN_RECORDS, SCAN_BYTES))
        .await
        .map_err(|e| CollectorError::Store(format!("demo read task: {e}")))??;
    let mut next = q.after;
    let mut events = Vec::new();
    for line in &lines {
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        next = record["cursor"].as_u64().unwrap_or(next);
        if record["kind"] == "event" && record["value"]["anonymousId"] == q.anonymous_id.as_str() {
            events.push(json!({
                "cursor": record["cursor"],
                "source": record["source"],
                "value": record["value"],
            }));
        }
    }
    if events.len() > MAX_EVENTS {
        events.drain(..events.len() - MAX_EVENTS);
    }
    Ok(Json(json!({"events": events, "next": next})).into_response())
}
