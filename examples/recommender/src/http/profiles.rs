//! Seed 004's back-office API: profiles, cohorts, experiments, and the dashboard's
//! figures. When `--api-key` is set every route here needs `Authorization: Bearer`.
//!
//! `{user_id}` is the shop's raw user id (its pseudonym is derived here; responses
//! name only pseudonyms); `?idType=anonymous` reads it as a tracker anonymous id.
//! Unknown people and cohorts are 404 with a reason.

use std::{collections::HashMap, sync::atomic::Ordering};

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::HeaderMap,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    model::profile::{round, DAYS},
    AppState, RecoError,
};

const DEFAULT_MEMBERS: usize = 100;
const MAX_MEMBERS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdQuery {
    id_type: Option<String>,
}

fn identity(
    state: &AppState,
    raw: &str,
    q: Result<Query<IdQuery>, QueryRejection>,
) -> Result<String, RecoError> {
    let Query(q) = q.map_err(|e| RecoError::bad_request("invalid_query", e.body_text()))?;
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 1024 {
        return Err(RecoError::bad_request(
            "invalid_user_id",
            "userId must be 1 to 1024 bytes",
        ));
    }
    match q.id_type.as_deref() {
        None | Some("user") => Ok(state.inner.ids.user(raw)),
        Some("anonymous") => Ok(state.inner.ids.anonymous(raw)),
        Some(_) => Err(RecoError::bad_request(
            "invalid_id_type",
            "idType must be user or anonymous",
        )),
    }
}

pub async fn profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    q: Result<Query<IdQuery>, QueryRejection>,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    let id = identity(&state, &user_id, q)?;
    let now = state.inner.time.now_ms();
    let model = state.model();
    let p = model.profiles.get(&id).ok_or_else(|| {
        RecoError::not_found(
            "no_profile",
            "no profile for this user (unknown, deleted, or no personalization consent)",
        )
    })?;
    Ok(Json(
        p.facts(now, model.decay_now(now))
            .view(&id, &model.cohorts_of(&id)),
    ))
}

pub async fn user_cohorts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    q: Result<Query<IdQuery>, QueryRejection>,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    let id = identity(&state, &user_id, q)?;
    let model = state.model();
    Ok(Json(
        json!({"user_id": id, "cohorts": model.cohorts_of(&id)}),
    ))
}

pub async fn cohorts(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    let model = state.model();
    let list: Vec<Value> = state
        .inner
        .rules
        .cohorts
        .iter()
        .map(|(id, _)| json!({"id": id, "member_count": model.cohorts.get(id).map_or(0, |m| m.len())}))
        .collect();
    Ok(Json(json!({"cohorts": list})))
}

fn known_cohort(state: &AppState, id: &str) -> Result<(), RecoError> {
    if state.inner.rules.cohorts.iter().any(|(c, _)| c == id) {
        Ok(())
    } else {
        Err(RecoError::not_found(
            "unknown_cohort",
            format!("no cohort {id:?}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersQuery {
    limit: Option<String>,
}

pub async fn members(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<MembersQuery>, QueryRejection>,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    let Query(q) = q.map_err(|e| RecoError::bad_request("invalid_query", e.body_text()))?;
    let limit = match q.limit {
        None => DEFAULT_MEMBERS,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_MEMBERS).contains(n))
            .ok_or_else(|| {
                RecoError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_MEMBERS}"),
                )
            })?,
    };
    known_cohort(&state, &id)?;
    let model = state.model();
    let members = model.cohorts.get(&id);
    // Sorted, so a limit gives the same members every time.
    let mut listed: Vec<&String> = members.map(|m| m.iter().collect()).unwrap_or_default();
    listed.sort_unstable();
    listed.truncate(limit);
    Ok(Json(json!({
        "cohort": id,
        "member_count": members.map_or(0, |m| m.len()),
        "members": listed,
    })))
}

pub async fn cohort_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    known_cohort(&state, &id)?;
    let now = state.inner.time.now_ms();
    let model = state.model();
    let decay = model.decay_now(now);
    let mut engagement = 0.0;
    let mut categories: HashMap<&str, f64> = HashMap::new();
    let mut products: HashMap<&str, f64> = HashMap::new();
    let mut slots = [[0u64; 24]; 7];
    let members = model.cohorts.get(&id);
    let count = members.map_or(0, |m| m.len());
    for p in members
        .into_iter()
        .flatten()
        .filter_map(|m| model.profiles.get(m))
    {
        let f = p.facts(now, decay);
        engagement += f.engagement_score();
        for (c, s) in p.top_categories(3) {
            *categories.entry(c).or_default() += s * decay;
        }
        for (i, s) in p.top_items(3) {
            *products.entry(i).or_default() += s.s * decay;
        }
        // Each member's busiest day and hour, once.
        let day = (0..7)
            .max_by_key(|d| (p.days[*d], std::cmp::Reverse(*d)))
            .unwrap_or(0);
        let hour = (0..24)
            .max_by_key(|h| (p.hours[*h], std::cmp::Reverse(*h)))
            .unwrap_or(0);
        if p.days[day] > 0 {
            slots[day][hour] += 1;
        }
    }
    let top = |m: HashMap<&str, f64>| {
        let mut v: Vec<(&str, f64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(5)
            .map(|(k, _)| k.to_owned())
            .collect::<Vec<_>>()
    };
    let best = (0..7)
        .flat_map(|d| (0..24).map(move |h| (d, h)))
        .max_by_key(|(d, h)| (slots[*d][*h], std::cmp::Reverse((*d, *h))))
        .filter(|(d, h)| slots[*d][*h] > 0)
        .map(|(d, h)| format!("{} {h:02}:00 UTC", DAYS[d]));
    Ok(Json(json!({
        "cohort": id,
        "member_count": count,
        "avg_engagement": if count > 0 { round(engagement / count as f64) } else { 0.0 },
        "top_content": top(categories),
        "top_products": top(products),
        "best_send_time": best,
    })))
}

pub async fn experiments(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    let model = state.model();
    let mut out = Vec::new();
    for e in &state.inner.rules.experiments {
        let stats = model.agg.experiments.get(&e.id);
        let variants: Vec<Value> = e
            .variants
            .iter()
            .map(|v| {
                let mut s = stats
                    .and_then(|m| m.get(&v.name))
                    .cloned()
                    .unwrap_or_default()
                    .view();
                s["name"] = json!(v.name);
                s["weight"] = json!(v.weight);
                s["strategy"] = json!(v.strategy);
                s
            })
            .collect();
        out.push(json!({"id": e.id, "configured": true, "variants": variants}));
    }
    for (id, stats) in &model.agg.experiments {
        if state.inner.rules.experiments.iter().any(|e| e.id == *id) {
            continue;
        }
        let variants: Vec<Value> = stats
            .iter()
            .map(|(name, s)| {
                let mut v = s.view();
                v["name"] = json!(name);
                v
            })
            .collect();
        out.push(json!({"id": id, "configured": false, "variants": variants}));
    }
    Ok(Json(json!({"experiments": out})))
}

/// The dashboard's figures: feed status, totals, events per minute over the last
/// hour of event time, cohort sizes.
pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, RecoError> {
    state.authorize(&headers)?;
    let s = &state.inner;
    let now = s.time.now_ms();
    let model = state.model();
    let this_minute = now.div_euclid(60_000);
    let per_minute: Vec<Value> = (this_minute - 59..=this_minute)
        .map(|m| {
            let t = chrono::DateTime::from_timestamp_millis(m * 60_000)
                .map(|t| t.format("%H:%M").to_string());
            json!({"minute": t, "count": model.agg.minutes.get(&m).copied().unwrap_or(0)})
        })
        .collect();
    let cohorts: serde_json::Map<String, Value> = s
        .rules
        .cohorts
        .iter()
        .map(|(id, _)| {
            (
                id.clone(),
                json!(model.cohorts.get(id).map_or(0, |m| m.len())),
            )
        })
        .collect();
    Ok(Json(json!({
        "cursor": model.cursor,
        "feed_head": s.status.head.load(Ordering::Relaxed).max(model.cursor),
        "caught_up": s.status.caught_up.load(Ordering::Relaxed),
        "collector_up": s.status.collector_up.load(Ordering::Relaxed),
        "last_error": *s.status.last_error.lock().expect("lock"),
        "totals": model.agg.totals,
        "rebuilds": s.status.rebuilds.load(Ordering::Relaxed),
        "duplicates_skipped": s.status.duplicates.load(Ordering::Relaxed),
        "kafka_partitions": s.status.partitions.load(Ordering::Relaxed),
        "records_read": s.status.applied.load(Ordering::Relaxed),
        "kafka_placed": *s.status.placed.lock().expect("lock"),
        "kafka_offsets": model.offsets,
        "recommendations": {
            "count": s.status.requests.load(Ordering::Relaxed),
            "lock_wait_ms": s.status.request_lock_us.load(Ordering::Relaxed) / 1000,
            "lock_wait_max_ms": s.status.request_lock_max_us.load(Ordering::Relaxed) / 1000,
            "in_model_ms": s.status.request_us.load(Ordering::Relaxed) / 1000,
        },
        "snapshots": {
            "cursor": s.snapshots.cursor.load(Ordering::Relaxed),
            "written": s.snapshots.written.load(Ordering::Relaxed),
            "shards_written": s.snapshots.shards_written.load(Ordering::Relaxed),
            "abandoned": s.snapshots.abandoned.load(Ordering::Relaxed),
            "redactions": s.snapshots.redactions.load(Ordering::Relaxed),
            "cpu_ms": s.snapshots.cpu_us.load(Ordering::Relaxed) / 1000,
            "last_cpu_ms": s.snapshots.last_cpu_us.load(Ordering::Relaxed) / 1000,
            "last_wall_ms": s.snapshots.last_wall_us.load(Ordering::Relaxed) / 1000,
            "last_error": *s.snapshots.last_error.lock().expect("lock"),
        },
        "follower_ms": {
            "fetch": s.status.time_fetch_us.load(Ordering::Relaxed) / 1000,
            "parse": s.status.time_parse_us.load(Ordering::Relaxed) / 1000,
            "lock_wait": s.status.time_lock_us.load(Ordering::Relaxed) / 1000,
            "apply": s.status.time_apply_us.load(Ordering::Relaxed) / 1000,
            "snapshot": s.status.time_snapshot_us.load(Ordering::Relaxed) / 1000,
        },
        "profiles": model.profiles.len(),
        "items": model.items.len(),
        "events_per_minute": per_minute,
        "cohorts": cohorts,
    })))
}
