//! Rename, revoke and rotate, shared by the owner's routes (`/v1/keys/{id}…`, Supabase JWT)
//! and the operator's (`/admin/keys/{id}…`, `ADMIN_TOKEN`, any key).

use actix_web::{web, HttpResponse};
use serde_json::{Map, Value};
use tollgate_domain::ids::UserId;
use tollgate_web::ApiError;
use uuid::Uuid;

use crate::gateway::database::MAX_TOKEN_NAME;
use crate::handlers::views;
use crate::keys::KeyChange;
use crate::state::AppState;

/// The key id of a path, or 400.
pub fn parse_key_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request("invalid_key_id", "the key id must be a UUID"))
}

/// The `name` of a body: 1 to 50 printable characters (new-api's limit), trimmed.
pub fn name_from(body: &Map<String, Value>) -> Result<String, ApiError> {
    // A map, not a derived struct: serde would also accept `["name"]` for a struct.
    let raw = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("invalid_name", "name (a string) is required"))?;
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TOKEN_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!("name must be 1 to {MAX_TOKEN_NAME} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no key {id}"))
}

fn revoked(id: Uuid) -> ApiError {
    ApiError::Conflict {
        code: "key_revoked",
        message: format!("key {id} is revoked; create or rotate another key"),
    }
}

/// Rename key `raw_id` (only `owner`'s, when given).
pub async fn rename(
    state: &web::Data<AppState>,
    raw_id: &str,
    owner: Option<UserId>,
    body: &Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_key_id(raw_id)?;
    let name = name_from(body)?;
    match state.keys.rename(id, owner, &name).await? {
        KeyChange::NotFound => Err(not_found(id)),
        KeyChange::Revoked => Err(revoked(id)),
        KeyChange::Done(key) => Ok(HttpResponse::Ok().json(views::owned(&key))),
    }
}

/// Revoke key `raw_id` (only `owner`'s, when given); again is a no-op.
pub async fn revoke(
    state: &web::Data<AppState>,
    raw_id: &str,
    owner: Option<UserId>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_key_id(raw_id)?;
    let Some(key) = state.keys.revoke(id, owner).await? else {
        return Err(not_found(id));
    };
    let mut view = views::owned(&key);
    view.takes_effect = Some(state.revocation_takes_effect().to_owned());
    Ok(HttpResponse::Ok().json(view))
}

/// Rotate key `raw_id` (only `owner`'s, when given): 201 with the new key in full.
pub async fn rotate(
    state: &web::Data<AppState>,
    raw_id: &str,
    owner: Option<UserId>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_key_id(raw_id)?;
    match state.keys.rotate(id, owner).await? {
        KeyChange::NotFound => Err(not_found(id)),
        KeyChange::Revoked => Err(revoked(id)),
        KeyChange::Done(rotation) => {
            let mut view = views::owned(&rotation.new);
            view.replaces = Some(views::Replaced {
                id: rotation.old.row.id,
                status: views::status(&rotation.old.row),
                sync: views::sync(&rotation.old.row),
                takes_effect: state.revocation_takes_effect().to_owned(),
            });
            Ok(HttpResponse::Created().json(view))
        }
    }
}
