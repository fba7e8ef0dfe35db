//! `/api/usage/user/*`: a signed-in user's usage over all their keys (or one of them):
//! extract → parse → call → map.

use actix_web::{web, HttpResponse};
use tollgate_web::error::ErrorBody;
use tollgate_web::{ApiError, Paging};

use crate::query::views::{Answer, Chart, Granularity, LogsPage, UserDetail};

use super::usage::{csv, json, now};
use crate::auth::UserAuth;
use crate::query::params::RawQuery;
use crate::query::service::Usage;
use crate::state::AppState;

/// `GET /api/usage/user/detail?start&end&tz&key_id`: `/detail` over the keys, plus `keys`.
#[utoipa::path(
    get,
    path = "/api/usage/user/detail",
    operation_id = "user_detail",
    tag = "user",
    security(("supabase_jwt" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        ("key_id" = Option<uuid::Uuid>, Query, description = "Only this key of the caller's (its key-sync id)."),
    ),
    responses(
        (status = 200, description = "Totals, by model, by local day and the 20 newest logs of the range.", body = Answer<UserDetail>),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "`key_id` is not one of the caller's keys.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this user (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database or key-sync is unavailable.", body = ErrorBody),
    )
)]
pub async fn detail(
    user: UserAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_user(&state, user.0, q.key_id()?).await?;
    usage.detail(range).await.map(json)
}

/// `GET /api/usage/user/chart?start&end&tz&granularity&key_id`.
#[utoipa::path(
    get,
    path = "/api/usage/user/chart",
    operation_id = "user_chart",
    tag = "user",
    security(("supabase_jwt" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        ("granularity" = Option<Granularity>, Query, description = "`day` (default) or `hour` (ranges up to 31 days)."),
        ("key_id" = Option<uuid::Uuid>, Query, description = "Only this key of the caller's (its key-sync id)."),
    ),
    responses(
        (status = 200, description = "Every local hour or day of the range.", body = Answer<Chart>),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "`key_id` is not one of the caller's keys.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this user (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database or key-sync is unavailable.", body = ErrorBody),
    )
)]
pub async fn chart(
    user: UserAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let unit = q.granularity(&range)?;
    let usage = Usage::of_user(&state, user.0, q.key_id()?).await?;
    usage.chart(range, unit).await.map(json)
}

/// `GET /api/usage/user/logs?page&page_size&start&end&tz&model&key_id`: items name their key.
#[utoipa::path(
    get,
    path = "/api/usage/user/logs",
    operation_id = "user_logs",
    tag = "user",
    security(("supabase_jwt" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        Paging,
        ("model" = Option<String>, Query, description = "Only this model's logs."),
        ("key_id" = Option<uuid::Uuid>, Query, description = "Only this key of the caller's (its key-sync id)."),
    ),
    responses(
        (status = 200, description = "One page of consume logs, newest first.", body = Answer<LogsPage>),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "`key_id` is not one of the caller's keys.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this user (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database or key-sync is unavailable.", body = ErrorBody),
    )
)]
pub async fn logs(
    user: UserAuth,
    q: web::Query<RawQuery>,
    Paging(page): Paging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_user(&state, user.0, q.key_id()?).await?;
    usage.logs(range, page, q.model()).await.map(json)
}

/// `GET /api/usage/user/logs.csv?start&end&tz&model&key_id`: every consume log of the range,
/// with a last `key_name` column.
#[utoipa::path(
    get,
    path = "/api/usage/user/logs.csv",
    operation_id = "user_logs_csv",
    tag = "user",
    security(("supabase_jwt" = [])),
    params(
        ("start" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "First second (unix, inclusive); default `end` minus 30 days."),
        ("end" = Option<i64>, Query, minimum = 0, maximum = 253402300799.0, description = "Last second (unix, inclusive); default now."),
        ("tz" = Option<String>, Query, description = "An IANA zone (`Asia/Kathmandu`) or `±HH:MM`; default `UTC`. Days and hours are local."),
        ("model" = Option<String>, Query, description = "Only this model's logs."),
        ("key_id" = Option<uuid::Uuid>, Query, description = "Only this key of the caller's (its key-sync id)."),
    ),
    responses(
        (status = 200, description = "Every consume log of the range as CSV, newest first.", content_type = "text/csv", body = String),
        (status = 400, description = "`invalid_query`: a bad `start`, `end`, `tz`, `granularity`, page or `key_id`.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "`key_id` is not one of the caller's keys.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this user (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database or key-sync is unavailable.", body = ErrorBody),
    )
)]
pub async fn logs_csv(
    user: UserAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_user(&state, user.0, q.key_id()?).await?;
    Ok(csv(usage.export(range, q.model())))
}
