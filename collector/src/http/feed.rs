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
    // A page never outgrows the response budget, so every page can be served.
    let max_bytes = MAX_RESPONSE_BYTES.min(s.config.limits.max_response_bytes / 2);
    let mut lines = read(&state, q.after, limit, max_bytes).await?;
    if lines.is_empty() && !wait.is_zero() {
        let mut stopping = s.stopping.clone();
        tokio::select! {
            _ = tokio::time::timeout(wait, committed.wait_for(|c| *c > q.after)) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
        lines = read(&state, q.after, limit, max_bytes).await?;
    }
    let size: usize = lines.iter().map(|l| l.len() + 1).sum();
    let permit = reserve_response(&state, size)?;
    let mut body = Vec::with_capacity(size);
    for line in &lines {
        body.extend_from_slice(line);
        body.push(b'\n');
    }
    drop(lines);
    let body = axum::body::Bytes::from_owner(Budgeted {
        body,
        _permit: permit,
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// A response body with its share of the response budget: the share is released when
/// the last copy of the bytes is dropped, i.e. once hyper has written them out (or the
/// connection ended, at the latest after `--write-timeout-secs` of a stalled reader).
struct Budgeted {
    body: Vec<u8>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

/// Reserves `bytes` of the response budget (`--max-response-bytes`), or 503.
fn reserve_response(
    state: &AppState,
    bytes: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, CollectorError> {
    let s = &state.inner;
    let permits = bytes.div_ceil(super::PERMIT_BYTES).max(1) as u32;
    s.responses
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| CollectorError::Overloaded {
            retry_after_secs: s.config.limits.retry_after_secs,
        })
}

async fn read(
    state: &AppState,
    after: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, CollectorError> {
    let store = state.inner.store.clone();
    tokio::task::spawn_blocking(move || store.read(after, limit, max_bytes))
        .await
        .map_err(|e| CollectorError::Store(format!("feed read task: {e}")))?
}
