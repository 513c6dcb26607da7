//! Probes and metrics for operators and orchestrators.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::AppState;

/// Alive: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready: the server is not shutting down, the writer runs, and the store can still
/// make events durable.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let s = &state.inner;
    if *s.stopping.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if !s.writer.is_running() {
        (StatusCode::SERVICE_UNAVAILABLE, "writer stopped")
    } else if !s.store.healthy() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "store cannot write (disk full or failing, or the data dir gone); retrying",
        )
    } else {
        (StatusCode::OK, "ready")
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let s = &state.inner;
    s.metrics
        .pending_requests
        .set((s.admission.pending() + s.admission_keyless.pending()) as i64);
    s.metrics.queue_standing.set(i64::from(
        s.admission.standing() || s.admission_keyless.standing(),
    ));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.inner.metrics.render(),
    )
}

/// Observes every routed request's latency by route template and status.
pub async fn record_latency(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .inner
        .metrics
        .requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
