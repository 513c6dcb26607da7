//! The service's one error type. Every request-level failure maps to one HTTP status
//! and a stable reason code, here and nowhere else.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum RecoError {
    #[error("{message}")]
    BadRequest {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    NotFound {
        reason: &'static str,
        message: String,
    },
    #[error("missing or wrong API key")]
    Unauthorized,
    #[error(
        "not caught up with the collector's feed yet and nothing to fall back on; retry shortly"
    )]
    NotReady,
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("i/o failure: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl RecoError {
    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            reason,
            message: message.into(),
        }
    }

    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            reason,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::Config(_) | Self::Io(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable reason code clients see.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest { reason, .. } | Self::NotFound { reason, .. } => reason,
            Self::Unauthorized => "unauthorized",
            Self::NotReady => "not_ready",
            Self::Config(_) | Self::Io(_) | Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for RecoError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, Self::NotReady) {
            tracing::error!(error = %self, "request failed");
        }
        let body = Json(json!({"error": self.reason(), "message": self.to_string()}));
        let mut response = (status, body).into_response();
        if matches!(self, Self::NotReady) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"cairn-recommender\""),
            );
        }
        response
    }
}
