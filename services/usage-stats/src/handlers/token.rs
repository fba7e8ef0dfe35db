//! `GET /api/usage/token/`: new-api's own token usage answer, same shape and meaning.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tollgate_web::error::ErrorBody;
use utoipa::ToSchema;

use crate::auth::KeyAuth;
use crate::state::AppState;

/// new-api's envelope of this answer: `{"code":true,"message":"ok","data":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenUsageAnswer {
    /// Always `true`.
    pub code: bool,
    /// Always `ok`.
    pub message: String,
    /// The figures.
    pub data: TokenUsage,
}

/// One key's grant and use, in quota units as new-api keeps them, plus the USD figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenUsage {
    /// Always `token_usage`.
    pub object: String,
    /// The key's name in new-api.
    pub name: String,
    /// Used plus available.
    pub total_granted: i64,
    /// `tokens.used_quota`.
    pub total_used: i64,
    /// `tokens.remain_quota`.
    pub total_available: i64,
    /// `tokens.unlimited_quota`.
    pub unlimited_quota: bool,
    /// The models the key is limited to (each `true`).
    pub model_limits: BTreeMap<String, bool>,
    /// Whether those limits apply.
    pub model_limits_enabled: bool,
    /// Unix seconds; 0 when it never expires (new-api's `-1`).
    pub expires_at: i64,
    /// `total_granted` in USD.
    pub total_granted_usd: f64,
    /// `total_used` in USD.
    pub total_used_usd: f64,
    /// `total_available` in USD.
    pub total_available_usd: f64,
}

/// `GET /api/usage/token/`: the caller's key, as new-api answers the same route.
#[utoipa::path(
    get,
    path = "/api/usage/token/",
    tag = "key",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The key's quota, as new-api answers `GET /api/usage/token`.", body = TokenUsageAnswer),
        (status = 401, description = "No key, or not a usable new-api key.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this key (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database is unavailable.", body = ErrorBody),
    )
)]
pub async fn usage(auth: KeyAuth, state: web::Data<AppState>) -> HttpResponse {
    let t = &auth.0;
    let model_limits = t
        .model_limits
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| (m.to_owned(), true))
        .collect();
    let granted = t.remain_quota + t.used_quota;
    let usd = |quota: i64| state.usd(quota);
    HttpResponse::Ok().json(TokenUsageAnswer {
        code: true,
        message: "ok".into(),
        data: TokenUsage {
            object: "token_usage".into(),
            name: t.name.clone(),
            total_granted: granted,
            total_used: t.used_quota,
            total_available: t.remain_quota,
            unlimited_quota: t.unlimited_quota,
            model_limits,
            model_limits_enabled: t.model_limits_enabled,
            expires_at: if t.expired_time == -1 {
                0
            } else {
                t.expired_time
            },
            total_granted_usd: usd(granted),
            total_used_usd: usd(t.used_quota),
            total_available_usd: usd(t.remain_quota),
        },
    })
}

/// `GET /api/usage/token`: the same without the trailing slash.
#[utoipa::path(
    get,
    path = "/api/usage/token",
    tag = "key",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The key's quota, as new-api answers `GET /api/usage/token`.", body = TokenUsageAnswer),
        (status = 401, description = "No key, or not a usable new-api key.", body = ErrorBody),
        (status = 429, description = "Over RATE_LIMIT_PER_MIN for this key (`Retry-After`).", body = ErrorBody),
        (status = 503, description = "new-api's database is unavailable.", body = ErrorBody),
    )
)]
pub async fn usage_no_slash(auth: KeyAuth, state: web::Data<AppState>) -> HttpResponse {
    usage(auth, state).await
}
