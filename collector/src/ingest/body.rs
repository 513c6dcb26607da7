//! Reading a request body within the limits: content type and encoding are checked
//! before any byte is read, and decompression stops one byte past the limit, so neither a
//! huge body nor a gzip bomb can make the server hold more than the limit. Reading
//! (`read_raw`, async) and decompressing (`decode`, CPU) are apart, so the CPU work can
//! run off the async workers.

use std::io::Read;

use axum::{
    body::Body,
    http::{header, HeaderMap},
};
use flate2::read::MultiGzDecoder;

use crate::CollectorError;

/// The request body as sent (still compressed), at most `limit` bytes. Content type
/// and encoding are checked before any byte is read.
pub async fn read_raw(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, CollectorError> {
    check_content_type(headers)?;
    is_gzip(headers)?;
    if let Some(length) = content_length(headers) {
        if length > limit as u64 {
            return Err(CollectorError::TooLarge { limit });
        }
    }
    // A compressed body is never larger than its content for JSON; cap it at the limit.
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| match std::error::Error::source(&e) {
            Some(inner) if inner.is::<http_body_util::LengthLimitError>() => {
                CollectorError::TooLarge { limit }
            }
            _ => CollectorError::bad_request("unreadable_body", format!("reading body: {e}")),
        })
}

/// A body read by `read_raw`, decompressed, at most `limit` bytes. CPU work: the
/// caller runs it off the async workers.
pub fn decode(
    headers: &HeaderMap,
    raw: axum::body::Bytes,
    limit: usize,
) -> Result<Vec<u8>, CollectorError> {
    if !is_gzip(headers)? {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity((raw.len() * 4).min(limit + 1));
    MultiGzDecoder::new(&raw[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| CollectorError::bad_request("invalid_gzip", format!("gzip body: {e}")))?;
    if out.len() > limit {
        return Err(CollectorError::TooLarge { limit });
    }
    Ok(out)
}

/// The declared body size, used to reserve in-flight memory before reading.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_gzip(headers: &HeaderMap) -> Result<bool, CollectorError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match text.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        _ => Err(CollectorError::UnsupportedEncoding(text)),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), CollectorError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = text.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json" | "text/plain" | "" => Ok(()),
        other if other.ends_with("+json") => Ok(()),
        _ => Err(CollectorError::UnsupportedMediaType(essence.to_owned())),
    }
}
