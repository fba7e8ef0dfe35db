//! Operator endpoints (Bearer `ADMIN_TOKEN`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tollgate_web::{Admin, ApiError};
use uuid::Uuid;

use crate::handlers::lifecycle;
use crate::handlers::views::{self, ResyncAnswer};
use crate::keys::Resync;
use crate::state::AppState;
use crate::store::{self, SyncFilter};
use crate::sync::Attempt;

/// Query of `GET /admin/keys`.
#[derive(Deserialize)]
pub struct ListQuery {
    sync: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /admin/keys?sync=pending|failed|synced&page&page_size`.
pub async fn list(
    _: Admin,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = match query.sync.as_deref() {
        None | Some("") => None,
        Some("pending") => Some(SyncFilter::Pending),
        Some("failed") => Some(SyncFilter::Failed),
        Some("synced") => Some(SyncFilter::Synced),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "sync must be pending, failed or synced",
            ))
        }
    };
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(50);
    if page < 1 || !(1..=200).contains(&page_size) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "page must be >= 1 and page_size 1 to 200",
        ));
    }
    let mut conn = state.pool.get().await.map_err(tollgate_db::DbError::from)?;
    let (rows, total) = store::admin_page(&mut conn, filter, page, page_size)
        .await
        .map_err(tollgate_db::DbError::from)?;
    Ok(HttpResponse::Ok().json(views::AdminKeyPage {
        keys: rows.iter().map(views::admin).collect(),
        page,
        page_size,
        total,
    }))
}

/// `POST /admin/keys/{id}/sync`: push the key now.
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
pub async fn reconcile(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = state
        .keys
        .reconcile(state.reconcile_limit, state.sync_batch)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `PATCH /admin/keys/{id} {"name"}`: rename any key.
pub async fn rename(
    _: Admin,
    id: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rename(&state, &id, None, &body).await
}

/// `DELETE /admin/keys/{id}`: revoke any key.
pub async fn revoke(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::revoke(&state, &id, None).await
}

/// `POST /admin/keys/{id}/rotate`: replace any key.
pub async fn rotate(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    lifecycle::rotate(&state, &id, None).await
}
