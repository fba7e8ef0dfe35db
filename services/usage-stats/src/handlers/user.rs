//! `/api/usage/user/*`: a signed-in user's usage over all their keys (or one of them):
//! extract → parse → call → map.

use actix_web::{web, HttpResponse};
use tollgate_web::ApiError;

use super::usage::{csv, json, now};
use crate::auth::UserAuth;
use crate::query::params::RawQuery;
use crate::query::service::Usage;
use crate::state::AppState;

/// `GET /api/usage/user/detail?start&end&tz&key_id`: `/detail` over the keys, plus `keys`.
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
pub async fn logs(
    user: UserAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let page = q.page()?;
    let usage = Usage::of_user(&state, user.0, q.key_id()?).await?;
    usage.logs(range, page, q.model()).await.map(json)
}

/// `GET /api/usage/user/logs.csv?start&end&tz&model&key_id`: every consume log of the range,
/// with a last `key_name` column.
pub async fn logs_csv(
    user: UserAuth,
    q: web::Query<RawQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let range = q.range(now())?;
    let usage = Usage::of_user(&state, user.0, q.key_id()?).await?;
    Ok(csv(usage.export(range, q.model())))
}
