//! The collector's one error type. Every request-level failure maps to exactly one HTTP
//! status and a stable, machine-readable reason, here and nowhere else.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("missing or unknown key")]
    Unauthorized,
    #[error("request body is over {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unsupported Content-Encoding {0:?}; use gzip or none")]
    UnsupportedEncoding(String),
    #[error("unsupported Content-Type {0:?}; use application/json or text/plain")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    BadRequest {
        reason: &'static str,
        message: String,
    },
    #[error("the request's events would take over {limit} bytes once stored (the batch context is copied into each)")]
    Expanded { limit: usize },
    #[error("server is at capacity; retry after {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout { secs: u64 },
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("store failure: {0}")]
    Store(String),
    /// The disk refused a write or a sync (full, failing, or the data dir gone): nothing
    /// of the request was acknowledged; the store recovers by itself once writes succeed.
    #[error("the store cannot make events durable now ({0}); retry after {1} s")]
    StoreUnavailable(String, u64),
    #[error("i/o failure: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(String),
}

impl CollectorError {
    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            reason,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedEncoding(_) | Self::UnsupportedMediaType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Expanded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded { .. } | Self::ShuttingDown | Self::StoreUnavailable(..) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Store(_) | Self::Io(_) | Self::Config(_) | Self::Kafka(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The stable reason code clients and the metrics see.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedEncoding(_) => "unsupported_encoding",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::BadRequest { reason, .. } => reason,
            Self::BodyTimeout { .. } => "body_timeout",
            Self::Expanded { .. } => "too_large",
            Self::Overloaded { .. } => "overloaded",
            Self::ShuttingDown => "shutting_down",
            Self::StoreUnavailable(..) => "storage_unavailable",
            Self::Store(_) | Self::Io(_) | Self::Config(_) | Self::Kafka(_) => "internal",
        }
    }
}

impl From<sled::Error> for CollectorError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl IntoResponse for CollectorError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = Json(json!({
            "success": false,
            "error": self.reason(),
            "message": self.to_string(),
        }));
        let mut response = (status, body).into_response();
        let retry_after = match &self {
            Self::Overloaded { retry_after_secs } => Some(*retry_after_secs),
            Self::ShuttingDown => Some(1),
            Self::StoreUnavailable(_, secs) => Some(*secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
        }
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"cairn\"".parse().unwrap(),
            );
        }
        response
    }
}
