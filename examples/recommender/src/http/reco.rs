//! `GET /api/recommendations` (seed 002) and `/readyz`.
//!
//! Parameters: `userId` (the shop's user id, raw: its pseudonym is derived here and
//! the raw value is never kept), `anonId` (the tracker's anonymous id), `limit`
//! (1..=100, default 10), `context` (`homepage`, `product-page`, `cart` or another
//! slot name of `[A-Za-z0-9_-]`, at most 64), `productId` (alias `currentProductId`;
//! required when `context=product-page`). Anything else, a repeated parameter, or a
//! value out of these bounds is 400 with its reason. 503 only while the follower has
//! not reached the feed's head and the model holds nothing to fall back on.

use std::sync::atomic::Ordering;

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::StatusCode,
    Json,
};
use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::{
    experiments::{assignments, model_version},
    recommend::{assignment_identity, recommend, Query as RecoQuery},
    AppState, RecoError,
};

const MAX_ID: usize = 1024;
const MAX_PRODUCT: usize = 256;
pub const MAX_LIMIT: usize = 100;

fn id_param(name: &str, v: &str, max: usize, reason: &'static str) -> Result<String, RecoError> {
    let t = v.trim();
    if t.is_empty() || t.len() > max {
        return Err(RecoError::bad_request(
            reason,
            format!("{name} must be 1 to {max} bytes"),
        ));
    }
    Ok(t.to_owned())
}

/// The validated raw parameters.
#[derive(Debug, Default)]
pub struct Params {
    pub user_id: Option<String>,
    pub anon_id: Option<String>,
    pub limit: usize,
    pub context: Option<String>,
    pub product_id: Option<String>,
}

pub fn parse(pairs: &[(String, String)]) -> Result<Params, RecoError> {
    let mut p = Params {
        limit: 10,
        ..Params::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        let key = if k == "currentProductId" {
            "productId"
        } else {
            k.as_str()
        };
        if seen.contains(&key) {
            return Err(RecoError::bad_request(
                "duplicate_parameter",
                format!("{k} is given twice"),
            ));
        }
        seen.push(key);
        match key {
            "userId" => p.user_id = Some(id_param("userId", v, MAX_ID, "invalid_user_id")?),
            "anonId" => p.anon_id = Some(id_param("anonId", v, MAX_ID, "invalid_anon_id")?),
            "productId" => {
                p.product_id = Some(id_param("productId", v, MAX_PRODUCT, "invalid_product_id")?)
            }
            "limit" => {
                p.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        RecoError::bad_request(
                            "invalid_limit",
                            format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?
            }
            "context" => {
                let ok = !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(RecoError::bad_request(
                        "invalid_context",
                        "context must be 1 to 64 of [A-Za-z0-9_-], e.g. homepage, product-page, cart",
                    ));
                }
                p.context = Some(v.to_ascii_lowercase());
            }
            _ => {
                return Err(RecoError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown parameter {k:?}; known: userId, anonId, limit, context, productId"
                    ),
                ))
            }
        }
    }
    if p.context.as_deref() == Some("product-page") && p.product_id.is_none() {
        return Err(RecoError::bad_request(
            "missing_product_id",
            "context=product-page needs productId",
        ));
    }
    Ok(p)
}

pub async fn recommendations(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, RecoError> {
    let Query(pairs) = query.map_err(|e| RecoError::bad_request("invalid_query", e.body_text()))?;
    let p = parse(&pairs)?;
    let s = &state.inner;
    let q = RecoQuery {
        user: p.user_id.as_deref().map(|u| s.ids.user(u)),
        anon: p.anon_id.as_deref().map(|a| s.ids.anonymous(a)),
        limit: p.limit,
        context: p.context,
        product: p.product_id,
    };
    let asked = std::time::Instant::now();
    let model = state.model();
    let waited = asked.elapsed().as_micros() as u64;
    s.status.requests.fetch_add(1, Ordering::Relaxed);
    s.status
        .request_lock_us
        .fetch_add(waited, Ordering::Relaxed);
    s.status
        .request_lock_max_us
        .fetch_max(waited, Ordering::Relaxed);
    if !s.status.caught_up.load(Ordering::Relaxed) && model.popular.is_empty() {
        return Err(RecoError::NotReady);
    }
    let (assigned, strategy) = assignments(&s.rules, assignment_identity(&model, &q));
    let products = recommend(&model, &q, strategy);
    drop(model);
    s.status
        .request_us
        .fetch_add(asked.elapsed().as_micros() as u64, Ordering::Relaxed);
    let generated = s.time.now().to_rfc3339_opts(SecondsFormat::Millis, true);
    Ok(Json(json!({
        "products": products.iter().map(|p| json!({"id": p.id, "score": p.score, "reason": p.reason})).collect::<Vec<_>>(),
        "modelVersion": model_version(&assigned),
        "generatedAt": generated,
        "experiments": assigned.iter().map(|(e, v)| json!({"id": e, "variant": v})).collect::<Vec<_>>(),
    })))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.inner.status.caught_up.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "catching up")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &[(&str, &str)]) -> Result<Params, &'static str> {
        let pairs: Vec<(String, String)> = s
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&pairs).map_err(|e| e.reason())
    }

    #[test]
    fn params() {
        assert_eq!(q(&[]).unwrap().limit, 10);
        assert_eq!(q(&[("limit", "0")]).unwrap_err(), "invalid_limit");
        assert_eq!(q(&[("limit", "101")]).unwrap_err(), "invalid_limit");
        assert_eq!(q(&[("limit", "x")]).unwrap_err(), "invalid_limit");
        assert_eq!(q(&[("userId", " ")]).unwrap_err(), "invalid_user_id");
        assert_eq!(
            q(&[("anonId", &"a".repeat(1025))]).unwrap_err(),
            "invalid_anon_id"
        );
        assert_eq!(
            q(&[("context", "home page")]).unwrap_err(),
            "invalid_context"
        );
        assert_eq!(
            q(&[("context", "product-page")]).unwrap_err(),
            "missing_product_id"
        );
        assert_eq!(q(&[("userid", "u")]).unwrap_err(), "unknown_parameter");
        assert_eq!(
            q(&[("limit", "1"), ("limit", "2")]).unwrap_err(),
            "duplicate_parameter"
        );
        let ok = q(&[
            ("context", "Product-Page"),
            ("currentProductId", "p1"),
            ("limit", "3"),
        ])
        .unwrap();
        assert_eq!(
            (ok.context.as_deref(), ok.product_id.as_deref(), ok.limit),
            (Some("product-page"), Some("p1"), 3)
        );
    }
}
