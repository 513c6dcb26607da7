//! GET /v1/feed: stored records in commit order as NDJSON, one per line with its cursor.
//! With `wait`, an empty read long-polls until something newer is durable.

use std::time::Duration;

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{auth::presented_key, AppState};
use crate::CollectorError;

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;
/// A response stops after the record that reaches this size, whatever `limit` says.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
    #[serde(default)]
    wait: u64,
}

pub async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, CollectorError> {
    let s = &state.inner;
    let key = presented_key(&headers).ok_or(CollectorError::Unauthorized)?;
    if !s.keys.is_read_key(&key) && !s.keys.is_admin_key(&key) {
        return Err(CollectorError::Unauthorized);
    }
    let Query(q) =
        query.map_err(|e| CollectorError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let wait = Duration::from_secs(q.wait.min(s.config.limits.max_feed_wait_secs));

    let mut committed = s.committed.clone();
    let mut lines = read(&state, q.after, limit).await?;
    if lines.is_empty() && !wait.is_zero() {
        let mut stopping = s.stopping.clone();
        tokio::select! {
            _ = tokio::time::timeout(wait, committed.wait_for(|c| *c > q.after)) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
        lines = read(&state, q.after, limit).await?;
    }
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in &lines {
        body.extend_from_slice(line);
        body.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

async fn read(state: &AppState, after: u64, limit: usize) -> Result<Vec<Vec<u8>>, CollectorError> {
    let store = state.inner.store.clone();
    tokio::task::spawn_blocking(move || store.read(after, limit, MAX_RESPONSE_BYTES))
        .await
        .map_err(|e| CollectorError::Store(format!("feed read task: {e}")))?
}
