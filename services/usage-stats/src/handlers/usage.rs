//! `/detail`, `/chart` and `/logs` for the authenticated key: extract → parse → call → map.

use actix_web::http::header::{ContentType, CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_util::TryStreamExt;
use tollgate_domain::zone::Unit;
use tollgate_web::ApiError;

use crate::auth::KeyAuth;
use crate::query::export::Export;
use crate::query::params::RawQuery;
use crate::query::service::Usage;
use crate::state::AppState;

/// Now, unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A 200 CSV download streamed from `export`.
pub fn csv(export: Export) -> HttpResponse {
    let (start, end) = (export.range.start, export.range.end);
    let day = |t| export.range.zone.label(Unit::Day, t);
    let filename = format!("usage-{}-to-{}.csv", day(start), day(end));
    let body = export.stream().map_err(|e| {
        tracing::warn!(error = %e, "CSV export cut short");
        actix_web::error::ErrorServiceUnavailable("the export failed")
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((CACHE_CONTROL, "no-store"))
        .streaming(body)
}

/// A 200 JSON answer from its serialized body.
pub fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

/// `GET /api/usage/token/detail?start&end&tz`.
pub async fn detail(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_key(&state, auth.0.id).await?;
    usage.detail(range).await.map(json)
}

/// `GET /api/usage/token/chart?start&end&tz&granularity=hour|day`: contiguous, zero-filled.
pub async fn chart(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let unit = q.granularity(&range)?;
    let usage = Usage::of_key(&state, auth.0.id).await?;
    usage.chart(range, unit).await.map(json)
}

/// `GET /api/usage/token/logs?page&page_size&start&end&tz&model`: newest first, with `total`.
pub async fn logs(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let page = q.page()?;
    let usage = Usage::of_key(&state, auth.0.id).await?;
    usage.logs(range, page, q.model()).await.map(json)
}

/// `GET /api/usage/token/logs.csv?start&end&tz&model`: every consume log of the range.
pub async fn logs_csv(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_key(&state, auth.0.id).await?;
    Ok(csv(usage.export(range, q.model())))
}
