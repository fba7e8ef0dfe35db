//! `GET /api/usage/token/`: new-api's own token usage answer, same shape and meaning.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::KeyAuth;
use crate::state::AppState;

/// `{"code":true,"message":"ok","data":{"object":"token_usage",…}}`, plus the USD figures.
pub async fn usage(auth: KeyAuth, state: web::Data<AppState>) -> HttpResponse {
    let t = &auth.0;
    let model_limits: BTreeMap<&str, bool> = t
        .model_limits
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| (m, true))
        .collect();
    let granted = t.remain_quota + t.used_quota;
    let usd = |quota: i64| state.usd(quota);
    HttpResponse::Ok().json(json!({
        "code": true,
        "message": "ok",
        "data": {
            "object": "token_usage",
            "name": t.name,
            "total_granted": granted,
            "total_used": t.used_quota,
            "total_available": t.remain_quota,
            "unlimited_quota": t.unlimited_quota,
            "model_limits": model_limits,
            "model_limits_enabled": t.model_limits_enabled,
            "expires_at": if t.expired_time == -1 { 0 } else { t.expired_time },
            "total_granted_usd": usd(granted),
            "total_used_usd": usd(t.used_quota),
            "total_available_usd": usd(t.remain_quota),
        }
    }))
}
