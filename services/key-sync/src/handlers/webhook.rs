//! `POST /webhooks/supabase/users`: Supabase's Database Webhook for INSERT on `auth.users`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_domain::ids::UserId;
use tollgate_domain::signature::bearer_matches;
use tollgate_web::ApiError;
use uuid::Uuid;

use crate::state::AppState;

#[derive(Deserialize)]
struct Delivery {
    #[serde(rename = "type")]
    kind: Option<String>,
    table: Option<String>,
    schema: Option<String>,
    record: Option<Value>,
}

/// Create the new user's default key and push it to new-api in this request.
/// Answers `{"key_id","synced","created"}`; a failed push still answers 200 with
/// `synced:false` (the key is kept and retried). The key itself is never in the answer:
/// Supabase stores webhook responses (pg_net's `net._http_response`).
pub async fn user_created(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !bearer_matches(auth, &state.webhook_secret) {
        return Err(ApiError::Unauthorized("invalid webhook secret".into()));
    }
    let delivery: Delivery = serde_json::from_slice(&body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_body"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, format!("not a Supabase webhook delivery: {e}"))
    })?;
    let event = (
        delivery.kind.as_deref(),
        delivery.schema.as_deref(),
        delivery.table.as_deref(),
    );
    if event != (Some("INSERT"), Some("auth"), Some("users")) {
        return Ok(HttpResponse::Ok().json(json!({
            "ignored": true,
            "reason": "only INSERT on auth.users creates keys",
        })));
    }
    let user = parse_user_id(delivery.record.as_ref())?;
    let key = state
        .keys
        .create_default(user, "webhook")
        .await
        .map_err(super::key_error)?;
    Ok(HttpResponse::Ok().json(json!({
        "key_id": key.key_id,
        "synced": key.synced,
        "created": key.created,
    })))
}

fn parse_user_id(record: Option<&Value>) -> Result<UserId, ApiError> {
    let id = record
        .and_then(|r| r.get("id"))
        .ok_or_else(|| ApiError::bad_request("missing_user_id", "record.id is required"))?;
    id.as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .map(UserId)
        .ok_or_else(|| ApiError::bad_request("invalid_user_id", "record.id must be a UUID"))
}
