//! The import API's revocation calls (docs/newapi-import.md), for a patched new-api:
//! - `POST /api/token/import/revoke {"key","external_user_id"}`: the user's token of that
//!   key gets status 2 (disabled); answers `data.token_id` (`null`: no such token);
//! - `POST /api/user/import/disable {"external_user_id"}`: the user and every token of
//!   theirs get status 2; answers `data.user_id` (`null`: no such user) and
//!   `data.tokens_disabled`.
//!
//! Both are idempotent; refusals are HTTP 200 with `success:false`, as in new-api.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::json;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{token_status, with_conn, NewapiDbError};

use crate::auth::is_admin;
use crate::import::{refuse, token_by_key, user_by_external_id};
use crate::respond::newapi_failure;
use crate::state::AppState;

#[derive(Deserialize)]
struct RevokeRequest {
    key: String,
    external_user_id: String,
}

#[derive(Deserialize)]
struct DisableRequest {
    external_user_id: String,
}

fn unauthorized() -> HttpResponse {
    newapi_failure(
        StatusCode::UNAUTHORIZED,
        "unauthorized: a valid admin access token is required",
    )
}

fn database_error(e: &NewapiDbError) -> HttpResponse {
    tracing::error!(error = %e, "revocation failed");
    newapi_failure(StatusCode::OK, "database error")
}

/// `POST /api/token/import/revoke`.
pub(crate) async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if !is_admin(&req, &state.admin_token) {
        return unauthorized();
    }
    let request: RevokeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(&format!("invalid request body: {e}")),
    };
    let outcome = async {
        let mut conn = state.pool.get().await?;
        let Some(token) = token_by_key(&mut conn, &request.key).await? else {
            return Ok(Ok(None));
        };
        let owner = user_by_external_id(&mut conn, &request.external_user_id).await?;
        if owner != Some(token.user_id) {
            return Ok(Err("the key belongs to another user"));
        }
        with_conn!(&mut conn, |c| {
            diesel::update(tokens::table.find(token.id))
                .set(tokens::status.eq(token_status::DISABLED))
                .execute(c)
                .await
        })?;
        Ok::<_, NewapiDbError>(Ok(Some(token.id)))
    }
    .await;
    match outcome {
        Ok(Ok(token_id)) => HttpResponse::Ok().json(json!({
            "success": true, "message": "", "data": { "token_id": token_id },
        })),
        Ok(Err(message)) => refuse(message),
        Err(e) => database_error(&e),
    }
}

/// `POST /api/user/import/disable`.
pub(crate) async fn disable_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if !is_admin(&req, &state.admin_token) {
        return unauthorized();
    }
    let request: DisableRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(&format!("invalid request body: {e}")),
    };
    let outcome = async {
        let mut conn = state.pool.get().await?;
        let Some(user) = user_by_external_id(&mut conn, &request.external_user_id).await? else {
            return Ok((None, 0));
        };
        let disabled = with_conn!(&mut conn, |c| {
            let n = diesel::update(
                tokens::table
                    .filter(tokens::user_id.eq(user))
                    .filter(tokens::status.ne(token_status::DISABLED)),
            )
            .set(tokens::status.eq(token_status::DISABLED))
            .execute(c)
            .await?;
            diesel::update(users::table.find(user))
                .set(users::status.eq(2))
                .execute(c)
                .await?;
            Ok::<_, diesel::result::Error>(n)
        })?;
        Ok::<_, NewapiDbError>((Some(user), disabled))
    }
    .await;
    match outcome {
        Ok((user_id, n)) => HttpResponse::Ok().json(json!({
            "success": true, "message": "",
            "data": { "user_id": user_id, "tokens_disabled": n },
        })),
        Err(e) => database_error(&e),
    }
}
