//! `/detail`, `/chart` and `/logs` for the authenticated key: extract → parse → call → map.

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use tollgate_web::ApiError;

use crate::auth::KeyAuth;
use crate::query::params::RawQuery;
use crate::query::service::Usage;
use crate::state::AppState;

/// Now, unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
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
