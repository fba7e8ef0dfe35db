//! `/detail`, `/chart` and `/logs` for the authenticated key.

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use tollgate_db::DbError;
use tollgate_domain::usage::{DAY, HOUR};
use tollgate_web::ApiError;

use crate::auth::KeyAuth;
use crate::query::cache::token_version;
use crate::query::detail::{by_model, series, total, Totals};
use crate::query::params::{Granularity, Range, RawQuery};
use crate::query::pieces::{self, sizes_for, FigureSet, QueryError, SETTLED_SECS};
use crate::query::recent;
use crate::state::AppState;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn unavailable(e: QueryError) -> ApiError {
    tracing::warn!(error = %e, "usage query failed");
    unavailable_now()
}

/// The answer to every waiter of a shared load that failed (the load logged its error).
fn unavailable_now() -> ApiError {
    ApiError::Unavailable("usage data is unavailable right now".into())
}

/// The token's ingest version when the result cache is on: read before anything else, so a
/// cached answer keyed by it is never older than what this request could have read.
async fn version(state: &AppState, token: i64) -> Result<Option<i64>, ApiError> {
    if state.results.is_none() {
        return Ok(None);
    }
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    token_version(&mut conn, token)
        .await
        .map(Some)
        .map_err(|e| unavailable(e.into()))
}

async fn figures(
    state: &AppState,
    token: i64,
    version: Option<i64>,
    range: &Range,
    model: Option<&str>,
) -> Result<FigureSet, ApiError> {
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    pieces::load(
        &mut conn,
        &pieces::Sources {
            pool: &state.logs,
            cache: &state.edges,
            now: now(),
            cached: state.results.as_ref().zip(version),
        },
        token,
        range.start,
        range.end,
        sizes_for(range.offset),
        model,
    )
    .await
    .map_err(unavailable)
}

/// One page of the key's logs in `range`, newest first, full rows from new-api.
async fn logs_page(
    state: &AppState,
    token: i64,
    version: Option<i64>,
    range: &Range,
    model: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Arc<Vec<recent::LogView>>, ApiError> {
    let load = async {
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        let ids = recent::page_ids(
            &mut conn,
            token,
            range.start,
            range.end,
            model,
            offset,
            limit,
        )
        .await
        .map_err(unavailable)?;
        drop(conn);
        recent::fetch(&state.logs, &ids, |q| state.usd(q))
            .await
            .map(Arc::new)
            .map_err(unavailable)
    };
    match (&state.results, version) {
        (Some(cache), Some(version)) => {
            let key = (
                token,
                version,
                [range.start, range.end, offset, limit],
                model.unwrap_or("").to_owned(),
            );
            cache
                .pages
                .try_get_with(key, load)
                .await
                // The load logged its own error; every waiter gets the same answer.
                .map_err(|_: Arc<ApiError>| unavailable_now())
        }
        _ => load.await,
    }
}

fn totals_json(state: &AppState, t: &Totals) -> Value {
    json!({
        "total_quota": t.quota,
        "total_quota_usd": state.usd(t.quota),
        "total_requests": t.requests,
        "total_tokens": t.tokens,
        "avg_latency_ms": t.avg_latency_ms(),
    })
}

fn range_json(r: &Range) -> Value {
    json!({ "start": r.start, "end": r.end, "tz_offset_seconds": r.offset })
}

/// `GET /api/usage/token/detail?start&end&tz`.
pub async fn detail(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = now();
    let range = q.range(now)?;
    let token = auth.0.id;
    let version = version(&state, token).await?;
    // A settled range (both edges closed) depends only on the version: keep the whole body.
    let whole = state
        .results
        .as_ref()
        .zip(version)
        .filter(|_| range.end < now - SETTLED_SECS);
    let Some((cache, version)) = whole else {
        return Ok(HttpResponse::Ok().json(detail_body(&state, token, version, &range).await?));
    };
    let key = (token, version, [range.start, range.end, range.offset]);
    let body = cache
        .answers
        .try_get_with(key, async {
            let value = detail_body(&state, token, Some(version), &range).await?;
            Ok::<_, ApiError>(Bytes::from(serde_json::to_vec(&value).unwrap_or_default()))
        })
        .await
        .map_err(|_: Arc<ApiError>| unavailable_now())?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

async fn detail_body(
    state: &AppState,
    token: i64,
    version: Option<i64>,
    range: &Range,
) -> Result<Value, ApiError> {
    // Figures and the latest logs are independent: load them at once.
    let (rows, recent) = tokio::try_join!(
        figures(state, token, version, range, None),
        logs_page(state, token, version, range, None, 0, 20),
    )?;
    let totals = total(rows.iter());
    let models: Vec<Value> = by_model(rows.iter())
        .into_iter()
        .map(|(model, t)| {
            let share = if totals.quota == 0 {
                0.0
            } else {
                t.quota as f64 * 100.0 / totals.quota as f64
            };
            json!({
                "model_name": model,
                "quota": t.quota,
                "quota_usd": state.usd(t.quota),
                "requests": t.requests,
                "tokens": t.tokens,
                "percentage": (share * 100.0).round() / 100.0,
            })
        })
        .collect();
    let days: Vec<Value> = series(rows.iter(), range.start, range.end, range.offset, DAY, |q| state.usd(q))
        .into_iter()
        .map(|p| json!({"date": p.label, "quota": p.quota, "quota_usd": p.quota_usd, "requests": p.requests, "tokens": p.tokens}))
        .collect();
    Ok(json!({
        "success": true,
        "data": {
            "range": range_json(range),
            "summary": totals_json(state, &totals),
            "by_model": models,
            "by_day": days,
            "recent_logs": &recent[..],
        }
    }))
}

/// `GET /api/usage/token/chart?start&end&tz&granularity=hour|day`: contiguous, zero-filled.
pub async fn chart(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let granularity = q.granularity(&range)?;
    let version = version(&state, auth.0.id).await?;
    let rows = figures(&state, auth.0.id, version, &range, None).await?;
    let size = match granularity {
        Granularity::Hour => HOUR,
        Granularity::Day => DAY,
    };
    let points = series(
        rows.iter(),
        range.start,
        range.end,
        range.offset,
        size,
        |q| state.usd(q),
    );
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": {
            "range": range_json(&range),
            "granularity": if size == HOUR { "hour" } else { "day" },
            "points": points,
        }
    })))
}

/// `GET /api/usage/token/logs?page&page_size&start&end&model`: newest first, with `total`.
pub async fn logs(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let (page, page_size) = q.page()?;
    let model = q.model();
    let version = version(&state, auth.0.id).await?;
    let total = total(
        figures(&state, auth.0.id, version, &range, model)
            .await?
            .iter(),
    )
    .requests;
    let items = logs_page(
        &state,
        auth.0.id,
        version,
        &range,
        model,
        (page - 1) * page_size,
        page_size,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": {
            "range": range_json(&range),
            "page": page,
            "page_size": page_size,
            "total": total,
            "items": &items[..],
        }
    })))
}
