//! The signed-in user's own keys (Supabase JWT).

use actix_web::{web, HttpResponse};
use tollgate_web::error::ErrorBody;
use tollgate_web::ApiError;

use crate::handlers::{lifecycle, views};
use crate::state::AppState;
use tollgate_supabase_auth::AuthUser;

/// `GET /v1/keys`: the user's keys, with the full `sk-…` key.
#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "own_list",
    tag = "keys",
    security(("supabase_jwt" = [])),
    responses(
        (status = 200, description = "The caller's keys, oldest first; active ones carry the full key.", body = views::OwnerKeyList),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = state.keys.list(user.0.sub).await?;
    let keys = keys.iter().map(views::owned).collect();
    Ok(HttpResponse::Ok().json(views::OwnerKeyList { keys }))
}

/// `POST /v1/keys {"name"}`: another key, synced like the default one; 409 past the cap.
#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "own_create",
    tag = "keys",
    security(("supabase_jwt" = [])),
    request_body = views::NameRequest,
    responses(
        (status = 201, description = "The new key, in full.", body = views::OwnerKey),
        (status = 400, description = "`invalid_json`, `invalid_body` or `invalid_name`.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "The user is not in `auth.users`.", body = ErrorBody),
        (status = 409, description = "`key_limit_reached`: MAX_KEYS_PER_USER active keys already.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn create(
    user: AuthUser,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = lifecycle::name_from(&body)?;
    match state
        .keys
        .create_named(user.0.sub, &name)
        .await
        .map_err(super::key_error)?
    {
        Ok(key) => Ok(HttpResponse::Created().json(views::owned(&key))),
        Err(_) => Err(ApiError::Conflict {
            code: "key_limit_reached",
            message: format!("at most {} keys per user", state.max_keys_per_user),
        }),
    }
}

/// `PATCH /v1/keys/{id} {"name"}`: rename one of the caller's keys.
#[utoipa::path(
    patch,
    path = "/v1/keys/{id}",
    operation_id = "own_rename",
    tag = "keys",
    security(("supabase_jwt" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    request_body = views::NameRequest,
    responses(
        (status = 200, description = "The renamed key, in full.", body = views::OwnerKey),
        (status = 400, description = "`invalid_key_id`, `invalid_json`, `invalid_body` or `invalid_name`.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such key of the caller's.", body = ErrorBody),
        (status = 409, description = "`key_revoked`: the key is revoked.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn rename(
    user: AuthUser,
    id: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rename(&state, &id, Some(user.0.sub), &body).await
}

/// `DELETE /v1/keys/{id}`: revoke one of the caller's keys.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    operation_id = "own_revoke",
    tag = "keys",
    security(("supabase_jwt" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The revoked key (again: a no-op), with `takes_effect`.", body = views::OwnerKey),
        (status = 400, description = "`invalid_key_id`: the id is not a UUID.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such key of the caller's.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn revoke(
    user: AuthUser,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::revoke(&state, &id, Some(user.0.sub)).await
}

/// `POST /v1/keys/{id}/rotate`: replace one of the caller's keys.
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/rotate",
    operation_id = "own_rotate",
    tag = "keys",
    security(("supabase_jwt" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 201, description = "The new key in full, with `replaces` (the old one, revoked).", body = views::OwnerKey),
        (status = 400, description = "`invalid_key_id`: the id is not a UUID.", body = ErrorBody),
        (status = 401, description = "No valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such key of the caller's.", body = ErrorBody),
        (status = 409, description = "`key_revoked`: the key is revoked.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn rotate(
    user: AuthUser,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rotate(&state, &id, Some(user.0.sub)).await
}
