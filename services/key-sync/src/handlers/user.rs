//! The signed-in user's own keys (Supabase JWT).

use actix_web::{web, HttpResponse};
use serde_json::json;
use tollgate_web::ApiError;

use crate::handlers::views;
use crate::state::AppState;
use tollgate_supabase_auth::AuthUser;

/// `GET /v1/keys`: the user's keys, with the full `sk-…` key.
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = state.keys.list(user.0.sub).await?;
    let keys: Vec<_> = keys
        .iter()
        .map(|k| views::owner(&k.row, k.key.as_ref().map(|k| k.to_user_string())))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

/// `POST /v1/keys {"name"}`: another key, synced like the default one; 409 past the cap.
pub async fn create(
    user: AuthUser,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // A map, not a derived struct: serde would also accept `["name"]` for a struct.
    let name = body
        .get("name")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ApiError::bad_request("invalid_name", "name (a string) is required"))?;
    let name = parse_name(name)?;
    match state
        .keys
        .create_named(user.0.sub, &name)
        .await
        .map_err(super::key_error)?
    {
        Ok(key) => Ok(HttpResponse::Created().json(views::owner(
            &key.row,
            key.key.as_ref().map(|k| k.to_user_string()),
        ))),
        Err(_) => Err(ApiError::Conflict {
            code: "key_limit_reached",
            message: format!("at most {} keys per user", state.max_keys_per_user),
        }),
    }
}

fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be 1 to 64 printable characters",
        ));
    }
    Ok(name.to_owned())
}
