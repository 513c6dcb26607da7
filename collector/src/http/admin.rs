//! DELETE /v1/users/{userId}: forget a user. Removes every stored event of the user and
//! of the anonymousIds and aliases tied to it, and appends a tombstone to the feed so
//! downstream systems forget too.

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    Json,
};
use chrono::SecondsFormat;
use serde_json::{json, Value};

use super::{auth::presented_key, AppState};
use crate::{store::DeleteUser, CollectorError};

pub async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, CollectorError> {
    let s = &state.inner;
    let key = presented_key(&headers).ok_or(CollectorError::Unauthorized)?;
    if !s.keys.is_admin_key(&key) {
        return Err(CollectorError::Unauthorized);
    }
    if user_id.trim().is_empty() {
        return Err(CollectorError::bad_request("missing_id", "userId is empty"));
    }
    let p = s.ingest.pseudonymiser();
    let request = DeleteUser {
        identity: p.identity(&user_id),
        stored_user_id: p.stored_user_id(&user_id),
        deleted_at: s.time.now().to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    // The search for the user's events runs here, beside ingest; the writer then only
    // adds what arrived meanwhile, appends the tombstone and zeroes.
    let store = s.store.clone();
    let identity = request.identity;
    let found = tokio::task::spawn_blocking(move || store.find_user_events(identity))
        .await
        .map_err(|e| CollectorError::Store(format!("user search failed: {e}")))??;
    let deletion = s.writer.delete_user(request.clone(), found).await?;
    tracing::info!(deleted = deletion.deleted_events, "user deleted");
    Ok(Json(json!({
        "success": true,
        "userId": request.stored_user_id,
        "deletedEvents": deletion.deleted_events,
        "tombstoneCursor": deletion.tombstone_cursor,
    })))
}
