//! `POST /webhooks/supabase/users`: Supabase's Database Webhook for INSERT and DELETE on
//! `auth.users`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use tollgate_domain::ids::UserId;
use tollgate_domain::signature::bearer_matches;
use tollgate_web::error::ErrorBody;
use tollgate_web::ApiError;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::handlers::views::{DeletionAnswer, IgnoredAnswer, SignupAnswer, WebhookAnswer};
use crate::state::AppState;

/// A Supabase Database Webhook delivery (pg_net's body).
#[derive(Deserialize, ToSchema)]
pub struct Delivery {
    /// `INSERT`, `UPDATE` or `DELETE`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: Option<String>,
    /// `users`.
    table: Option<String>,
    /// `auth`.
    schema: Option<String>,
    /// The new row (INSERT): `id` (UUID) and `email` are read.
    #[schema(value_type = Option<Object>)]
    record: Option<Value>,
    /// The old row (DELETE): `id` is read.
    #[schema(value_type = Option<Object>)]
    old_record: Option<Value>,
}

/// INSERT: create the new user's default key and push it to new-api in this request.
/// Answers `{"key_id","synced","created"}`; a failed push still answers 200 with
/// `synced:false` (the key is kept and retried). The key itself is never in the answer:
/// Supabase stores webhook responses (pg_net's `net._http_response`).
///
/// DELETE: revoke the user's keys and disable their new-api user and every token of
/// theirs, from the mapping that outlives `api_keys`. Answers
/// `{"user_id","deleted","already","disabled","keys_revoked"}`; a replay is a 200 no-op.
#[utoipa::path(
    post,
    path = "/webhooks/supabase/users",
    tag = "webhooks",
    security(("webhook_secret" = [])),
    request_body = Delivery,
    responses(
        (status = 200, description = "The signup's key, the deletion's outcome, or the event ignored.", body = WebhookAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `missing_user_id` or `invalid_user_id`.", body = ErrorBody),
        (status = 401, description = "Not the webhook secret.", body = ErrorBody),
        (status = 404, description = "The user is not in `auth.users`.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn user_created(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !bearer_matches(auth, state.webhook_secret.expose_secret()) {
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
    match event {
        (Some("INSERT"), Some("auth"), Some("users")) => {}
        (Some("DELETE"), Some("auth"), Some("users")) => {
            let user = parse_user_id(delivery.old_record.as_ref(), "old_record")?;
            let done = state
                .keys
                .user_deleted(user)
                .await
                .map_err(super::key_error)?;
            return Ok(
                HttpResponse::Ok().json(WebhookAnswer::Deletion(DeletionAnswer {
                    user_id: user.0,
                    deleted: true,
                    already: done.already,
                    disabled: done.disabled,
                    keys_revoked: done.keys_revoked,
                })),
            );
        }
        _ => {
            return Ok(
                HttpResponse::Ok().json(WebhookAnswer::Ignored(IgnoredAnswer {
                    ignored: true,
                    reason: "only INSERT and DELETE on auth.users concern keys".into(),
                })),
            );
        }
    }
    let user = parse_user_id(delivery.record.as_ref(), "record")?;
    let email = delivery
        .record
        .as_ref()
        .and_then(|r| r.get("email"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty() && e.len() <= 320);
    let key = state
        .keys
        .create_default(user, email, "webhook")
        .await
        .map_err(super::key_error)?;
    Ok(HttpResponse::Ok().json(WebhookAnswer::Signup(SignupAnswer {
        key_id: key.key_id,
        synced: key.synced,
        created: key.created,
    })))
}

fn parse_user_id(record: Option<&Value>, field: &str) -> Result<UserId, ApiError> {
    let id = record.and_then(|r| r.get("id")).ok_or_else(|| {
        ApiError::bad_request("missing_user_id", format!("{field}.id is required"))
    })?;
    id.as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .map(UserId)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_user_id", format!("{field}.id must be a UUID"))
        })
}
