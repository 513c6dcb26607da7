//! DELETE /v1/users/{userId}: forget a user. Removes every stored event of the user and
//! of the anonymousIds and aliases tied to it, and appends a tombstone to the feed so
//! downstream systems forget too.
//!
//! `{userId}` is the raw user id: it is deleted under every configured project hash
//! key (one deletion and tombstone per distinct pseudonym), which finds its events
//! whether they arrived raw or hashed on the device. With `?hashed=true` it is the
//! device hash already (64 lower-case hex digits).

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::HeaderMap,
    Json,
};
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{auth::presented_key, AppState};
use crate::{
    privacy::{device_user_id, is_device_hash},
    store::{DeleteUser, Deletion},
    CollectorError,
};

#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    hashed: bool,
}

pub async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<Value>, CollectorError> {
    let s = &state.inner;
    let key = presented_key(&headers).ok_or(CollectorError::Unauthorized)?;
    if !s.keys.is_admin_key(&key) {
        return Err(CollectorError::Unauthorized);
    }
    let Query(q) =
        query.map_err(|e| CollectorError::bad_request("invalid_query", e.body_text()))?;
    if user_id.trim().is_empty() {
        return Err(CollectorError::bad_request("missing_id", "userId is empty"));
    }
    let device_hashes = if q.hashed {
        if !is_device_hash(&user_id) {
            return Err(CollectorError::bad_request(
                "invalid_id",
                "with hashed=true the id must be 64 lower-case hex digits",
            ));
        }
        vec![user_id]
    } else {
        let mut all: Vec<String> = s
            .keys
            .projects()
            .iter()
            .map(|project| device_user_id(project, &user_id, false))
            .collect();
        all.dedup();
        all
    };
    let deleted_at = s.time.now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let p = s.ingest.pseudonymiser();
    let requests: Vec<DeleteUser> = device_hashes
        .iter()
        .map(|d| DeleteUser {
            identity: p.identity(d),
            stored_user_id: p.stored_user_id(d),
            deleted_at: deleted_at.clone(),
        })
        .collect();
    // A task of its own: a client that goes away does not cut a deletion short.
    let task_state = state.clone();
    let task_requests = requests.clone();
    let deletions = tokio::spawn(async move { delete_all(&task_state, task_requests).await })
        .await
        .map_err(|e| CollectorError::Store(format!("deletion task: {e}")))??;
    let deleted: u64 = deletions.iter().map(|d| d.deleted_events).sum();
    tracing::info!(deleted, "user deleted");
    Ok(Json(json!({
        "success": true,
        "userId": requests[0].stored_user_id,
        "userIds": requests.iter().map(|r| r.stored_user_id.as_str()).collect::<Vec<_>>(),
        "deletedEvents": deleted,
        "tombstoneCursor": deletions[0].tombstone_cursor,
        "tombstones": deletions.iter().map(|d| d.tombstones).sum::<u64>(),
    })))
}

/// Deletes each pseudonym in turn, in three phases: the search runs beside ingest; the
/// writer adds what arrived meanwhile and appends the tombstones; the zeroing runs
/// beside ingest again. Deletions are serialised so that they finish in order.
async fn delete_all(
    state: &AppState,
    requests: Vec<DeleteUser>,
) -> Result<Vec<Deletion>, CollectorError> {
    let s = &state.inner;
    let _one_at_a_time = s.deletions.lock().await;
    let mut done = Vec::with_capacity(requests.len());
    for request in requests {
        let store = s.store.clone();
        let identity = request.identity;
        let found = tokio::task::spawn_blocking(move || store.find_user_events(identity))
            .await
            .map_err(|e| CollectorError::Store(format!("user search failed: {e}")))??;
        let pending = s.writer.delete_user(request, found).await?;
        let store = s.store.clone();
        let deletion = tokio::task::spawn_blocking(move || store.finish_deletion(pending))
            .await
            .map_err(|e| CollectorError::Store(format!("user zeroing failed: {e}")))??;
        done.push(deletion);
    }
    Ok(done)
}
