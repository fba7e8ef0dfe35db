//! Operator endpoints (Bearer `ADMIN_TOKEN`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tollgate_web::error::ErrorBody;
use tollgate_web::{Admin, ApiError, Paging};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::handlers::lifecycle;
use crate::handlers::views::{self, ResyncAnswer, SyncState};
use crate::keys::{Reconciled, Resync};
use crate::state::AppState;
use crate::store::SyncFilter;
use crate::sync::Attempt;

/// Query of `GET /admin/keys`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only keys in this sync state.
    #[param(inline)]
    sync: Option<SyncState>,
}

/// `page_size` defaults to 50 and may reach 200 here.
type KeyPaging = Paging<50, 200>;

/// `GET /admin/keys?sync=pending|failed|synced&page&page_size`.
#[utoipa::path(
    get,
    path = "/admin/keys",
    operation_id = "admin_list",
    tag = "admin",
    security(("admin_token" = [])),
    params(ListQuery, KeyPaging),
    responses(
        (status = 200, description = "One page of every user's keys (no key material), newest first.", body = views::AdminKeyPage),
        (status = 400, description = "`invalid_query`: a bad `sync`, `page` or `page_size`.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn list(
    _: Admin,
    query: web::Query<ListQuery>,
    Paging(page): KeyPaging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.sync.map(|state| match state {
        SyncState::Pending => SyncFilter::Pending,
        SyncState::Failed => SyncFilter::Failed,
        SyncState::Synced => SyncFilter::Synced,
    });
    let (rows, total) = state.keys.admin_page(filter, page).await?;
    Ok(HttpResponse::Ok().json(views::AdminKeyPage {
        keys: rows.iter().map(views::admin).collect(),
        page: page.number,
        page_size: page.size,
        total,
    }))
}

/// `POST /admin/keys/{id}/sync`: push the key now.
#[utoipa::path(
    post,
    path = "/admin/keys/{id}/sync",
    operation_id = "admin_resync",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The attempt's outcome: pushed, or the error it met.", body = ResyncAnswer),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "`sync_in_progress`: another attempt holds the key.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn resync(
    _: Admin,
    id: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match state.keys.resync(id).await? {
        Resync::NotFound => Err(ApiError::NotFound(format!("no key {id}"))),
        Resync::InProgress => Err(ApiError::Conflict {
            code: "sync_in_progress",
            message: "another sync attempt holds this key; try again shortly".into(),
        }),
        Resync::Done(Attempt::Synced(token_id)) => Ok(HttpResponse::Ok().json(ResyncAnswer {
            key_id: id,
            synced: true,
            newapi_token_id: token_id,
            error: None,
        })),
        Resync::Done(Attempt::Failed(error)) => Ok(HttpResponse::Ok().json(ResyncAnswer {
            key_id: id,
            synced: false,
            newapi_token_id: None,
            error: Some(error),
        })),
    }
}

/// `POST /admin/reconcile`: keys for users without one; unsynced keys retried now.
#[utoipa::path(
    post,
    path = "/admin/reconcile",
    operation_id = "admin_reconcile",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "What the pass did.", body = Reconciled),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn reconcile(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = state
        .keys
        .reconcile(state.reconcile_limit, state.sync_batch)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `PATCH /admin/keys/{id} {"name"}`: rename any key.
#[utoipa::path(
    patch,
    path = "/admin/keys/{id}",
    operation_id = "admin_rename",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    request_body = views::NameRequest,
    responses(
        (status = 200, description = "The renamed key.", body = views::OwnerKey),
        (status = 400, description = "`invalid_key_id`, `invalid_json`, `invalid_body` or `invalid_name`.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "`key_revoked`: the key is revoked.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn rename(
    _: Admin,
    id: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rename(&state, &id, None, &body).await
}

/// `DELETE /admin/keys/{id}`: revoke any key.
#[utoipa::path(
    delete,
    path = "/admin/keys/{id}",
    operation_id = "admin_revoke",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The revoked key (again: a no-op), with `takes_effect`.", body = views::OwnerKey),
        (status = 400, description = "`invalid_key_id`: the id is not a UUID.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn revoke(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::revoke(&state, &id, None).await
}

/// `POST /admin/keys/{id}/rotate`: replace any key.
#[utoipa::path(
    post,
    path = "/admin/keys/{id}/rotate",
    operation_id = "admin_rotate",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 201, description = "The new key in full, with `replaces`.", body = views::OwnerKey),
        (status = 400, description = "`invalid_key_id`: the id is not a UUID.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "`key_revoked`: the key is revoked.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn rotate(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rotate(&state, &id, None).await
}
