//! The platform's HTTP stack, seen from Rust: the foreign [`HttpUploader`] interface
//! (Kotlin: HttpURLConnection, Swift: URLSession, Python: urllib, each in its written
//! layer) and its adapter to the core's [`cairn::Uploader`].
//!
//! Rules:
//! - the uploader only performs the request and reports how it ended; retry, backoff,
//!   `Retry-After`, 413 splitting and 401/403 pauses are the core's decisions;
//! - `Retry-After` is passed raw and parsed here once (delta-seconds or HTTP date), so
//!   every platform reads it the same way;
//! - a failure to connect, a timeout or a connection dropped before the status line is
//!   `UploadResult::Transport`; any status line read is `UploadResult::Status`;
//! - an exception thrown by the foreign code is a transport error too (the dispatcher
//!   catches the panic UniFFI turns it into): the batch stays queued.

use cairn::{Clock, Outcome, SystemClock, Upload};
use std::collections::HashMap;
use std::sync::Arc;

/// One POST the platform must perform.
#[derive(Debug, Clone, uniffi::Record)]
pub struct UploadRequest {
    /// `{endpoint}/v1/batch`.
    pub url: String,
    /// Content-Type, Content-Encoding (gzip) and Authorization, to send as given.
    pub headers: HashMap<String, String>,
    /// The request body, already gzipped.
    pub body: Vec<u8>,
    /// Connect and read timeout for this request (`requestTimeoutMs`).
    pub timeout_ms: i64,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UploadResult {
    /// The server answered with `code`; `retryAfter` is its raw `Retry-After` header.
    Status {
        code: i32,
        retry_after: Option<String>,
    },
    /// No status came back: connect failure, timeout, dropped connection, TLS error.
    Transport { message: String },
}

/// Performs uploads with the platform's own HTTP stack. Called on the tracker's
/// `cairn-uploader` thread, one request at a time; may block for the request.
#[uniffi::export(with_foreign)]
pub trait HttpUploader: Send + Sync {
    fn upload(&self, request: UploadRequest) -> UploadResult;
}

/// The foreign uploader as the core's [`cairn::Uploader`].
pub(crate) struct Foreign {
    pub(crate) inner: Arc<dyn HttpUploader>,
    pub(crate) timeout_ms: i64,
}

impl cairn::Uploader for Foreign {
    fn upload(&self, u: Upload) -> Outcome {
        let request = UploadRequest {
            url: u.url,
            headers: u.headers.into_iter().collect(),
            body: u.body,
            timeout_ms: self.timeout_ms,
        };
        outcome(self.inner.upload(request))
    }
}

/// The core's outcome for a foreign result (a status outside 100..=599 is a
/// transport error: no HTTP server answers with it).
pub(crate) fn outcome(r: UploadResult) -> Outcome {
    match r {
        UploadResult::Status { code, retry_after } => match u16::try_from(code) {
            Ok(code @ 100..=599) => Outcome::Status {
                code,
                retry_after: retry_after
                    .as_deref()
                    .and_then(|v| cairn::parse_retry_after(v, SystemClock.now_millis())),
            },
            _ => Outcome::Transport(format!("invalid HTTP status {code}")),
        },
        UploadResult::Transport { message } => Outcome::Transport(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_map_to_the_core_outcomes() {
        let s = |code, ra: Option<&str>| {
            outcome(UploadResult::Status {
                code,
                retry_after: ra.map(str::to_string),
            })
        };
        assert_eq!(
            s(503, Some("7")),
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(s(200, None), Outcome::status(200));
        assert_eq!(s(429, Some("soon")), Outcome::status(429));
        assert!(matches!(s(0, None), Outcome::Transport(_)));
        assert!(matches!(s(70000, None), Outcome::Transport(_)));
        assert_eq!(
            outcome(UploadResult::Transport {
                message: "reset".into()
            }),
            Outcome::Transport("reset".into())
        );
    }
}
