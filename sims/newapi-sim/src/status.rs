//! `GET /health` (for orchestrators: the simulator and its database answer) and new-api's
//! own `GET /api/status`.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// 200 when the database answers within a second, 503 otherwise.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.pool.ping(Duration::from_secs(1)).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": e.to_string() })),
    }
}

/// new-api's status endpoint, reduced to the fields clients look at.
pub async fn api_status() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "success": true,
        "message": "",
        "data": { "version": "newapi-sim", "system_name": "New API (simulator)", "quota_per_unit": 500000 },
    }))
}
