//! The org API (Bearer `ADMIN_TOKEN`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tollgate_domain::money::Cents;
use tollgate_web::{Admin, ApiError};

use crate::organizations::{
    check_org_id, CreateOrg, OrgView, PaymentMethodInput, RechargeInput, UpdateOrg,
};
use crate::state::AppState;
use crate::store::recharges::{RechargeRow, RechargeStatus};
use crate::store::Page;
use crate::views;

fn org_body(state: &AppState, v: &OrgView) -> serde_json::Value {
    json!({ "success": true, "organization": views::organization(v, state.organizations.backend()) })
}

fn org_id(path: &web::Path<String>) -> Result<&str, ApiError> {
    check_org_id(path.as_str())?;
    Ok(path.as_str())
}

/// Paging query.
#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
    page_size: Option<i64>,
}

impl PageQuery {
    fn parse(&self) -> Result<Page, ApiError> {
        let page = Page {
            page: self.page.unwrap_or(1),
            page_size: self.page_size.unwrap_or(20),
        };
        if page.page < 1 || !(1..=100).contains(&page.page_size) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "page must be >= 1 and page_size 1 to 100",
            ));
        }
        Ok(page)
    }
}

/// `GET /api/organizations`.
pub async fn list(
    _: Admin,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let listed = state.organizations.list(page).await?;
    let backend = state.organizations.backend();
    let items = listed
        .items
        .iter()
        .map(|v| views::organization(v, backend))
        .collect();
    let poller = state.organizations.last_poll().await?;
    let mut body = views::page(items, listed.total, page.page, page.page_size);
    body["quota_backend"] = json!(backend);
    body["last_poll"] = json!(poller.as_ref().map(views::poller_run));
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/organizations`.
pub async fn create(
    _: Admin,
    body: web::Json<CreateOrg>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.organizations.create(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(org_body(&state, &view)))
}

/// `GET /api/organizations/{id}`.
pub async fn get(
    _: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.organizations.get(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(org_body(&state, &view)))
}

/// `PATCH /api/organizations/{id}`.
pub async fn update(
    _: Admin,
    path: web::Path<String>,
    body: web::Json<UpdateOrg>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .organizations
        .update(org_id(&path)?, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(org_body(&state, &view)))
}

/// `POST /api/organizations/{id}/payment-method`.
pub async fn payment_method(
    _: Admin,
    path: web::Path<String>,
    body: web::Json<PaymentMethodInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (view, attached) = state
        .organizations
        .add_payment_method(org_id(&path)?, body.into_inner())
        .await?;
    let mut out = org_body(&state, &view);
    out["payment_method"] =
        json!({ "id": attached.id, "brand": attached.brand, "last4": attached.last4 });
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /api/organizations/{id}/sync`.
pub async fn sync(
    _: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (view, kms) = state.organizations.sync(org_id(&path)?).await?;
    let mut out = org_body(&state, &view);
    out["kms"] = json!({ "c_organization_id": kms.c_organization_id, "l_team_id": kms.l_team_id, "quota": kms.quota });
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /api/organizations/{id}/recharge`, optional `Idempotency-Key`.
pub async fn recharge(
    _: Admin,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<RechargeInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().unwrap_or("").trim();
            if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1-255 printable ASCII characters",
                ));
            }
            Some(k.to_owned())
        }
    };
    let done = state
        .organizations
        .recharge(org_id(&path)?, body.into_inner(), key)
        .await?;
    Ok(recharge_response(&done.record, done.replayed))
}

/// Map a manual recharge's record to the HTTP answer.
fn recharge_response(record: &RechargeRow, replayed: bool) -> HttpResponse {
    let recharge = views::recharge(record);
    let (status, body) = match record.status() {
        RechargeStatus::Succeeded => (
            StatusCode::CREATED,
            json!({ "success": true, "action": "recharged", "recharged_amount": Cents(record.amount_cents), "recharge": recharge }),
        ),
        RechargeStatus::Pending | RechargeStatus::Charged => (
            StatusCode::ACCEPTED,
            json!({ "success": true, "action": "processing", "recharge": recharge }),
        ),
        RechargeStatus::Refunded => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "success": false, "error": { "code": "quota_not_delivered", "message": record.failure_message }, "recharge": recharge }),
        ),
        RechargeStatus::RequiresAction => (
            StatusCode::PAYMENT_REQUIRED,
            json!({
                "success": false,
                "error": { "code": "requires_action", "message": record.failure_message },
                "recharge": recharge,
            }),
        ),
        RechargeStatus::PaymentFailed | RechargeStatus::Canceled => (
            StatusCode::PAYMENT_REQUIRED,
            json!({
                "success": false,
                "error": { "code": "payment_failed", "message": record.failure_message },
                "recharge": recharge,
            }),
        ),
    };
    let mut response = HttpResponse::build(status);
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(body)
}

/// `GET /api/organizations/{id}/recharge-history?page&page_size`.
pub async fn recharge_history(
    _: Admin,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let listed = state
        .organizations
        .recharge_history(org_id(&path)?, page)
        .await?;
    let items = listed.items.iter().map(views::recharge).collect();
    Ok(HttpResponse::Ok().json(views::page(items, listed.total, page.page, page.page_size)))
}

/// `GET /api/organizations/{id}/webhook-events?page&page_size`.
pub async fn webhook_events(
    _: Admin,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let listed = state
        .organizations
        .webhook_events(org_id(&path)?, page)
        .await?;
    let items = listed.items.iter().map(views::event).collect();
    Ok(HttpResponse::Ok().json(views::page(items, listed.total, page.page, page.page_size)))
}
