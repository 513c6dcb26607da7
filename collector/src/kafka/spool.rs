//! The spool's budget. The local log holds what is not forwarded yet; `Spool` knows how
//! many bytes that is (measured by the forwarder's side, see `measure`) and `gate`
//! refuses ingest with 503 + Retry-After while it is at or past the budget. Requests
//! admitted just before may take it past the budget by at most the in-flight memory
//! limit (`--max-inflight-bytes`).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{CollectorError, Config};

pub struct Spool {
    budget: u64,
    bytes: AtomicU64,
    retry_after_secs: u64,
    refused: prometheus::IntCounter,
}

impl Spool {
    /// The spool of a collector whose sink is on; `None` when it is off.
    pub fn for_config(config: &Config, refused: prometheus::IntCounter) -> Option<Arc<Self>> {
        config.kafka.brokers.as_ref()?;
        Some(Arc::new(Self {
            budget: config.kafka.spool_bytes,
            bytes: AtomicU64::new(0),
            retry_after_secs: config.limits.retry_after_secs,
            refused,
        }))
    }

    pub fn is_full(&self) -> bool {
        self.bytes() >= self.budget
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    pub fn set_bytes(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Release);
    }
}

/// Middleware: every POST (the ingest endpoints) is refused while the spool is full;
/// reads, deletions and probes pass.
pub async fn gate(State(spool): State<Arc<Spool>>, request: Request, next: Next) -> Response {
    if request.method() == Method::POST && spool.is_full() {
        spool.refused.inc();
        return CollectorError::Overloaded {
            retry_after_secs: spool.retry_after_secs,
        }
        .into_response();
    }
    next.run(request).await
}
