//! The signed-in user's own keys (Supabase JWT).

use actix_web::{web, HttpResponse};
use tollgate_web::ApiError;

use crate::handlers::{lifecycle, views};
use crate::state::AppState;
use tollgate_supabase_auth::AuthUser;

/// `GET /v1/keys`: the user's keys, with the full `sk-…` key.
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = state.keys.list(user.0.sub).await?;
    let keys = keys.iter().map(views::owned).collect();
    Ok(HttpResponse::Ok().json(views::OwnerKeyList { keys }))
}

/// `POST /v1/keys {"name"}`: another key, synced like the default one; 409 past the cap.
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
pub async fn rename(
    user: AuthUser,
    id: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rename(&state, &id, Some(user.0.sub), &body).await
}

/// `DELETE /v1/keys/{id}`: revoke one of the caller's keys.
pub async fn revoke(
    user: AuthUser,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::revoke(&state, &id, Some(user.0.sub)).await
}

/// `POST /v1/keys/{id}/rotate`: replace one of the caller's keys.
pub async fn rotate(
    user: AuthUser,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rotate(&state, &id, Some(user.0.sub)).await
}
