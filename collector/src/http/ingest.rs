//! The Segment ingest endpoints. A request is authenticated by the key it presents before
//! its body (its Authorization header, or the `writeKey` query parameter of RudderStack's
//! beacon path), then admitted or shed (`admission`: 503 with Retry-After at once,
//! before its body is read), reserves its share of in-flight memory (503 when none is
//! left; requests without such a key take both from pools of their own), has
//! `--body-timeout-secs` to send its body, is decompressed, parsed and checked per event on the blocking pool
//! (so the async workers stay free to accept and to shed), and is answered 200 only
//! after the writer has made its accepted events durable.
//!
//! A request refused before its whole body was read (shed, too large, a body timeout, a
//! wrong key) is answered with `Connection: close`, and the connection is closed after
//! the answer: what is left of its body on the wire must never be read as the next
//! request.

use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::{auth::presented_key, AppState, PERMIT_BYTES};
use crate::{
    ingest::{content_length, decode, read_raw, Endpoint},
    metrics::LINK_CLIENT_ALIAS,
    store::Outcome,
    CollectorError,
};

pub async fn ingest(
    State(state): State<AppState>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(&state, endpoint, Ok(None), headers, body).await
}

/// `/beacon/v1/batch?writeKey=<key>`: RudderStack's sendBeacon batches, `{batch, sentAt}`
/// as `text/plain` with no Authorization header, the key in the query. Handled as
/// `/v1/batch`, the query key standing where a header key would (checked before the body
/// is read). The key is never logged: the latency metric's route label is the path
/// template, and nothing logs a request's URI.
pub async fn beacon(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(&state, None, query_key(&uri), headers, body).await
}

/// The `writeKey` query parameter, if any; more than one is refused, as a request may
/// name one key only.
fn query_key(uri: &Uri) -> Result<Option<String>, CollectorError> {
    // Parsing pairs cannot fail on content (invalid escapes are kept as they are), so the
    // error below is never the key's text.
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|_| {
        CollectorError::bad_request("invalid_query", "the query string cannot be read")
    })?;
    let mut keys = pairs
        .into_iter()
        .filter(|(name, _)| name == "writeKey")
        .map(|(_, value)| value);
    let key = keys.next();
    if keys.next().is_some() {
        return Err(CollectorError::Unauthorized);
    }
    Ok(key)
}

async fn respond(
    state: &AppState,
    endpoint: Endpoint,
    query_key: Result<Option<String>, CollectorError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let metrics = &state.inner.metrics;
    let mut body_read = false;
    let accepted = match query_key {
        Ok(query_key) => accept(state, endpoint, query_key, headers, body, &mut body_read).await,
        Err(error) => Err(error),
    };
    match accepted {
        Ok(response) => response,
        Err(error) => {
            metrics.rejected.with_label_values(&[error.reason()]).inc();
            let mut response = error.into_response();
            if !body_read {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

async fn accept(
    state: &AppState,
    endpoint: Endpoint,
    query_key: Option<String>,
    headers: HeaderMap,
    body: Body,
    body_read: &mut bool,
) -> Result<Response, CollectorError> {
    let s = &state.inner;
    let overloaded = || CollectorError::Overloaded {
        retry_after_secs: s.config.limits.retry_after_secs,
    };
    // A key presented before the body (Authorization header, beacon query) wins over one
    // in the body: a wrong or unreadable one is refused even when the body holds a right
    // key. A request presenting both must present the same key in each.
    let early_key = match (presented_key(&headers), query_key) {
        (None, _) if headers.contains_key(header::AUTHORIZATION) => {
            return Err(CollectorError::Unauthorized)
        }
        (Some(header), Some(query)) if header != query => return Err(CollectorError::Unauthorized),
        (header, query) => header.or(query),
    };
    if let Some(key) = &early_key {
        s.keys.write_key(key).ok_or(CollectorError::Unauthorized)?;
    }
    // A request with a key before its body was authenticated above; one without (key in
    // the body, as sendBeacon sends it without a query key) is admitted from, and
    // reserves memory from, pools of its own, so unauthenticated bodies never take what
    // keyed requests need.
    let (admission, pool) = if early_key.is_some() {
        (&s.admission, &s.inflight)
    } else {
        (&s.admission_keyless, &s.inflight_keyless)
    };
    let mut ticket = admission.try_admit().ok_or_else(overloaded)?;
    let limit = s.config.limits.max_batch_bytes;
    let reserved = match content_length(&headers) {
        Some(length) if headers.get("content-encoding").is_none() => (length as usize).min(limit),
        _ => limit,
    };
    let permits = reserved.div_ceil(PERMIT_BYTES).max(1) as u32;
    let permit = pool
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| overloaded())?;
    let gauge = GaugeGuard::add(s.metrics.inflight_bytes.clone(), reserved as i64);

    let body_timeout = std::time::Duration::from_secs(s.config.limits.body_timeout_secs.max(1));
    let raw = tokio::time::timeout(body_timeout, read_raw(&headers, body, limit))
        .await
        .map_err(|_| CollectorError::BodyTimeout {
            secs: body_timeout.as_secs(),
        })??;
    *body_read = true;
    ticket.body_read();
    let core = s
        .parsing
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| CollectorError::ShuttingDown)?;
    let parsing = state.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let _core = core;
        let s = &parsing.inner;
        let bytes = decode(&headers, raw, limit)?;
        s.ingest.parse(&bytes, endpoint, s.time.now(), |body_key| {
            let key = early_key.as_deref().or(body_key);
            key.and_then(|k| s.keys.write_key(k))
                .cloned()
                .ok_or(CollectorError::Unauthorized)
        })
    })
    .await
    .map_err(|e| CollectorError::Store(format!("parsing task: {e}")))??;
    if endpoint.is_some() {
        // Counted once, as the request's error, by `ingest`.
        if let Some(refused) = parsed.rejected.first() {
            return Err(CollectorError::BadRequest {
                reason: refused.reason,
                message: refused.message.clone(),
            });
        }
    }
    for (reason, count) in &parsed.rejected_by_reason {
        s.metrics
            .rejected
            .with_label_values(&[reason])
            .inc_by(*count);
    }
    let rejected_count = parsed.rejected_count();
    let (events, refused_links): (Vec<_>, Vec<_>) =
        parsed.events.into_iter().map(|(_, e, r)| (e, r)).unzip();
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        s.writer.append(events, Box::new((permit, gauge))).await?
    };
    drop(ticket);
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    let duplicates = outcomes.len() - stored;
    s.metrics.accepted.inc_by(stored as u64);
    // A refused link is counted once, with its stored event (not again for a retry).
    let refused = outcomes
        .iter()
        .zip(refused_links)
        .filter(|(o, refused)| *refused && matches!(o, Outcome::Stored { .. }))
        .count();
    s.metrics
        .links_refused
        .with_label_values(&[LINK_CLIENT_ALIAS])
        .inc_by(refused as u64);
    s.metrics.duplicates.inc_by(duplicates as u64);
    Ok(Json(json!({
        "success": true,
        "accepted": outcomes.len(),
        "duplicates": duplicates,
        "rejected": parsed.rejected,
        "rejectedCount": rejected_count,
    }))
    .into_response())
}

/// Keeps the in-flight gauge in step with the reservation it mirrors.
struct GaugeGuard {
    gauge: prometheus::IntGauge,
    amount: i64,
}

impl GaugeGuard {
    fn add(gauge: prometheus::IntGauge, amount: i64) -> Self {
        gauge.add(amount);
        Self { gauge, amount }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.gauge.sub(self.amount);
    }
}
