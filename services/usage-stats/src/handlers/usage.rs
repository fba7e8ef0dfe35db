//! `/detail`, `/chart` and `/logs` for the authenticated key: extract → parse → call → map.

use actix_web::http::header::{ContentType, CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_util::TryStreamExt;
use tollgate_domain::zone::Unit;
use tollgate_web::error::ErrorBody;
use tollgate_web::{ApiError, Paging};

use crate::query::views::{Answer, Chart, Detail, Granularity, LogsPage};

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
#[utoipa::path(
    get,
    path = "/api/usage/token/detail",
    operation_id = "key_detail",
    tag = "key",
    security(("api_key" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
    ),
    responses(
        (status = 200, description = "Totals, by model, by local day and the 20 newest logs of the range.", body = Answer<Detail>),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No key, or not a usable new-api key.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this key (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database is unavailable.", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/usage/token/chart",
    operation_id = "key_chart",
    tag = "key",
    security(("api_key" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        ("granularity" = Option<Granularity>, Query, description = "`day` (default) or `hour` (ranges up to 31 days)."),
    ),
    responses(
        (status = 200, description = "Every local hour or day of the range.", body = Answer<Chart>),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No key, or not a usable new-api key.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this key (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database is unavailable.", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/usage/token/logs",
    operation_id = "key_logs",
    tag = "key",
    security(("api_key" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        Paging,
        ("model" = Option<String>, Query, description = "Only this model's logs."),
    ),
    responses(
        (status = 200, description = "One page of consume logs, newest first.", body = Answer<LogsPage>),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No key, or not a usable new-api key.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this key (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database is unavailable.", body = ErrorBody),
    )
)]
pub async fn logs(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    Paging(page): Paging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_key(&state, auth.0.id).await?;
    usage.logs(range, page, q.model()).await.map(json)
}

/// `GET /api/usage/token/logs.csv?start&end&tz&model`: every consume log of the range.
#[utoipa::path(
    get,
    path = "/api/usage/token/logs.csv",
    operation_id = "key_logs_csv",
    tag = "key",
    security(("api_key" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        ("model" = Option<String>, Query, description = "Only this model's logs."),
    ),
    responses(
        (status = 200, description = "Every consume log of the range as CSV, newest first.", content_type = "text/csv", body = String),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No key, or not a usable new-api key.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this key (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database is unavailable.", body = ErrorBody),
    )
)]
pub async fn logs_csv(
    auth: KeyAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_key(&state, auth.0.id).await?;
    Ok(csv(usage.export(range, q.model())))
}
