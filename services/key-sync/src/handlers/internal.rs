//! Routes other Tollgate services call (Bearer `INTERNAL_TOKEN`).

use actix_web::{web, HttpResponse};
use tollgate_domain::ids::UserId;
use tollgate_web::error::ErrorBody;
use tollgate_web::{ApiError, Internal};

use crate::state::AppState;

/// `GET /internal/users/{user_id}/keys`: every key of the user (no key material), oldest
/// first, as [`tollgate_domain::user_keys::UserKeys`]. A user without keys has an empty list.
#[utoipa::path(
    get,
    path = "/internal/users/{user_id}/keys",
    tag = "internal",
    security(("internal_token" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The Supabase user's id.")),
    responses(
        (status = 200, description = "Every key of the user, oldest first, no key material.", body = tollgate_domain::user_keys::UserKeys),
        (status = 400, description = "`invalid_user_id`: not a UUID.", body = ErrorBody),
        (status = 401, description = "Not the INTERNAL_TOKEN (or none is set).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn user_keys(
    _: Internal,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = path
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_user_id", "user_id must be a UUID"))?;
    let keys = state.keys.directory(user).await?;
    Ok(HttpResponse::Ok().json(keys))
}
