//! The org API: the operator (Bearer `ADMIN_TOKEN`) everywhere; an organisation's members
//! (Bearer Supabase access token) on their own organisations, by role.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tollgate_domain::money::Cents;
use tollgate_web::error::ErrorBody;
use tollgate_web::{Admin, ApiError, Paging};

use super::caller::CallerOf;

use crate::access::Caller;
use crate::membership::AddMember;
use crate::organizations::{
    check_org_id, CreateOrg, OrgView, PaymentMethodInput, RechargeInput, UpdateOrg,
};
use crate::state::AppState;
use crate::store::recharges::{RechargeRow, RechargeStatus};
use crate::views::{
    self, AuditEntry, BackendOrg, CallerKind, CardView, EventView, MemberAnswer, MemberList,
    MonthUsageAnswer, OrganizationAnswer, OrganizationList, PageOf, RechargeAction, RechargeAnswer,
    RechargeError, RechargeView, RemovedAnswer,
};

/// `?month=YYYY-MM`.
#[derive(Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

fn org_body(state: &AppState, v: &OrgView) -> OrganizationAnswer {
    OrganizationAnswer {
        success: true,
        organization: views::organization(v, state.organizations.backend()),
        payment_method: None,
        kms: None,
    }
}

fn org_id(path: &web::Path<String>) -> Result<&str, ApiError> {
    check_org_id(path.as_str())?;
    Ok(path.as_str())
}

/// `GET /api/organizations`.
#[utoipa::path(
    get,
    path = "/api/organizations",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(Paging),
    responses(
        (status = 200, description = "The organisations the caller may see (all of them for the operator).", body = OrganizationList),
        (status = 400, description = "`invalid_organization_id` or `invalid_query` (page ≥ 1, page_size 1 to 100, page × page_size ≤ 1000000).", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn list(
    CallerOf(caller): CallerOf,
    Paging(page): Paging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let listed = state.organizations.list(&caller, page).await?;
    let backend = state.organizations.backend();
    let poller = state.organizations.last_poll().await?;
    Ok(HttpResponse::Ok().json(OrganizationList {
        success: true,
        items: listed
            .items
            .iter()
            .map(|v| views::organization(v, backend))
            .collect(),
        total: listed.total,
        page: page.number,
        page_size: page.size,
        quota_backend: backend,
        caller: match caller {
            Caller::Operator => CallerKind::Operator,
            Caller::User(_) => CallerKind::Member,
        },
        last_poll: poller.as_ref().map(views::poller_run),
    }))
}

/// `POST /api/organizations`.
#[utoipa::path(
    post,
    path = "/api/organizations",
    tag = "organizations",
    security(("admin_token" = [])),
    request_body = CreateOrg,
    responses(
        (status = 201, description = "The new organisation.", body = OrganizationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_organization_id`, an invalid amount or `invalid_team_id`.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 409, description = "`organization_exists`, or `team_taken` by another organisation.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn create(
    _: Admin,
    body: web::Json<CreateOrg>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.organizations.create(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(org_body(&state, &view)))
}

/// `GET /api/organizations/{id}`.
#[utoipa::path(
    get,
    path = "/api/organizations/{id}",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`.")),
    responses(
        (status = 200, description = "The organisation and its balance figures.", body = OrganizationAnswer),
        (status = 400, description = "`invalid_organization_id`.", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn get(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.organizations.get(&caller, org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(org_body(&state, &view)))
}

/// `PATCH /api/organizations/{id}`.
#[utoipa::path(
    patch,
    path = "/api/organizations/{id}",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`.")),
    request_body = UpdateOrg,
    responses(
        (status = 200, description = "The organisation after the change.", body = OrganizationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_organization_id` or an invalid amount.", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 403, description = "A viewer asked to change the organisation.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn update(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    body: web::Json<UpdateOrg>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .organizations
        .update(&caller, org_id(&path)?, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(org_body(&state, &view)))
}

/// `POST /api/organizations/{id}/payment-method`.
#[utoipa::path(
    post,
    path = "/api/organizations/{id}/payment-method",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`.")),
    request_body = PaymentMethodInput,
    responses(
        (status = 200, description = "The organisation with the card attached (and made default).", body = OrganizationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_organization_id` or `payment_method_declined`.", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 403, description = "A viewer asked to change the organisation.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database or Stripe is unavailable.", body = ErrorBody),
    )
)]
pub async fn payment_method(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    body: web::Json<PaymentMethodInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (view, attached) = state
        .organizations
        .add_payment_method(&caller, org_id(&path)?, body.into_inner())
        .await?;
    let mut out = org_body(&state, &view);
    out.payment_method = Some(CardView {
        id: attached.id,
        brand: attached.brand,
        last4: attached.last4,
    });
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /api/organizations/{id}/sync`.
#[utoipa::path(
    post,
    path = "/api/organizations/{id}/sync",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`.")),
    responses(
        (status = 200, description = "The organisation with what the quota backend holds (`kms`).", body = OrganizationAnswer),
        (status = 400, description = "`invalid_organization_id`.", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 403, description = "A viewer asked to change the organisation.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 409, description = "`team_not_found`: the LiteLLM team is gone.", body = ErrorBody),
        (status = 503, description = "The database or the quota backend is unavailable.", body = ErrorBody),
    )
)]
pub async fn sync(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (view, kms) = state.organizations.sync(&caller, org_id(&path)?).await?;
    let mut out = org_body(&state, &view);
    out.kms = Some(BackendOrg {
        c_organization_id: kms.c_organization_id,
        l_team_id: kms.l_team_id,
        quota: kms.quota,
    });
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /api/organizations/{id}/recharge`, optional `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/api/organizations/{id}/recharge",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`."), ("Idempotency-Key" = Option<String>, Header, description = "1-255 printable ASCII characters: a retry with the same key replays the first answer (`Idempotent-Replayed: true`).")),
    request_body = RechargeInput,
    responses(
        (status = 201, description = "Charged and delivered.", body = RechargeAnswer),
        (status = 202, description = "Charged or charging; delivery follows.", body = RechargeAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_organization_id`, an invalid amount or `invalid_idempotency_key`.", body = ErrorBody),
        (status = 402, description = "`payment_failed` or `requires_action` (3-D Secure): nothing delivered.", body = RechargeAnswer),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 403, description = "A viewer asked to change the organisation.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 409, description = "`no_payment_method`: no card to charge.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "`quota_not_delivered` (the charge was refunded), or the database or Stripe is unavailable.", body = views::RechargeUnavailable),
    )
)]
pub async fn recharge(
    CallerOf(caller): CallerOf,
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
        .recharge(&caller, org_id(&path)?, body.into_inner(), key)
        .await?;
    Ok(recharge_response(&done.record, done.replayed))
}

/// Map a manual recharge's record to the HTTP answer.
fn recharge_response(record: &RechargeRow, replayed: bool) -> HttpResponse {
    let recharge = views::recharge(record);
    let failed = |code: &str| RechargeAnswer {
        success: false,
        action: None,
        recharged_amount: None,
        error: Some(RechargeError {
            code: code.to_owned(),
            message: record.failure_message.clone(),
        }),
        recharge: recharge.clone(),
    };
    let (status, body) = match record.status() {
        RechargeStatus::Succeeded => (
            StatusCode::CREATED,
            RechargeAnswer {
                success: true,
                action: Some(RechargeAction::Recharged),
                recharged_amount: Some(Cents(record.amount_cents)),
                error: None,
                recharge: recharge.clone(),
            },
        ),
        RechargeStatus::Pending | RechargeStatus::Charged => (
            StatusCode::ACCEPTED,
            RechargeAnswer {
                success: true,
                action: Some(RechargeAction::Processing),
                recharged_amount: None,
                error: None,
                recharge: recharge.clone(),
            },
        ),
        RechargeStatus::Refunded => (
            StatusCode::SERVICE_UNAVAILABLE,
            failed("quota_not_delivered"),
        ),
        RechargeStatus::RequiresAction => (StatusCode::PAYMENT_REQUIRED, failed("requires_action")),
        RechargeStatus::PaymentFailed | RechargeStatus::Canceled => {
            (StatusCode::PAYMENT_REQUIRED, failed("payment_failed"))
        }
    };
    let mut response = HttpResponse::build(status);
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(body)
}

/// `GET /api/organizations/{id}/recharge-history?page&page_size`.
#[utoipa::path(
    get,
    path = "/api/organizations/{id}/recharge-history",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`."), Paging),
    responses(
        (status = 200, description = "Recharges, newest first.", body = PageOf<RechargeView>),
        (status = 400, description = "`invalid_organization_id` or `invalid_query` (page ≥ 1, page_size 1 to 100, page × page_size ≤ 1000000).", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn recharge_history(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    Paging(page): Paging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let listed = state
        .organizations
        .recharge_history(&caller, org_id(&path)?, page)
        .await?;
    let items = listed.items.iter().map(views::recharge).collect();
    Ok(HttpResponse::Ok().json(views::page(items, listed.total, page)))
}

/// `GET /api/organizations/{id}/webhook-events?page&page_size`.
#[utoipa::path(
    get,
    path = "/api/organizations/{id}/webhook-events",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`."), Paging),
    responses(
        (status = 200, description = "Events received for the organisation, newest first.", body = PageOf<EventView>),
        (status = 400, description = "`invalid_organization_id` or `invalid_query` (page ≥ 1, page_size 1 to 100, page × page_size ≤ 1000000).", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn webhook_events(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    Paging(page): Paging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let listed = state
        .organizations
        .webhook_events(&caller, org_id(&path)?, page)
        .await?;
    let items = listed.items.iter().map(views::event).collect();
    Ok(HttpResponse::Ok().json(views::page(items, listed.total, page)))
}

/// `GET /api/organizations/{id}/audit?page&page_size` (admins and the operator).
#[utoipa::path(
    get,
    path = "/api/organizations/{id}/audit",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`."), Paging),
    responses(
        (status = 200, description = "Changes to the organisation, newest first.", body = PageOf<AuditEntry>),
        (status = 400, description = "`invalid_organization_id` or `invalid_query` (page ≥ 1, page_size 1 to 100, page × page_size ≤ 1000000).", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn audit(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    Paging(page): Paging,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let listed = state
        .organizations
        .audit(&caller, org_id(&path)?, page)
        .await?;
    let items = listed.items.iter().map(views::audit_entry).collect();
    Ok(HttpResponse::Ok().json(views::page(items, listed.total, page)))
}

/// `GET /api/organizations/{id}/usage?month=YYYY-MM`.
#[utoipa::path(
    get,
    path = "/api/organizations/{id}/usage",
    tag = "organizations",
    security(("admin_token" = []), ("supabase_jwt" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`."), ("month" = Option<String>, Query, description = "`YYYY-MM` (UTC); default this month.")),
    responses(
        (status = 200, description = "The month's usage, recharges and balance.", body = MonthUsageAnswer),
        (status = 400, description = "`invalid_organization_id` or `invalid_month`.", body = ErrorBody),
        (status = 401, description = "Neither the ADMIN_TOKEN nor a valid Supabase access token.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn usage(
    CallerOf(caller): CallerOf,
    path: web::Path<String>,
    query: web::Query<MonthQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let usage = state
        .organizations
        .month_usage(&caller, org_id(&path)?, query.month.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(views::month_usage(org_id(&path)?, &usage)))
}

/// `GET /api/organizations/{id}/members` (the operator).
#[utoipa::path(
    get,
    path = "/api/organizations/{id}/members",
    tag = "members",
    security(("admin_token" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`.")),
    responses(
        (status = 200, description = "The organisation's members.", body = MemberList),
        (status = 400, description = "`invalid_organization_id`.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn members(
    _: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.memberships.list(org_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(MemberList {
        success: true,
        items: rows.iter().map(views::member).collect(),
    }))
}

/// `POST /api/organizations/{id}/members` (the operator): 201 when added, 200 when the role
/// changed or stayed.
#[utoipa::path(
    post,
    path = "/api/organizations/{id}/members",
    tag = "members",
    security(("admin_token" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`.")),
    request_body = AddMember,
    responses(
        (status = 200, description = "Already a member: the role set.", body = MemberAnswer),
        (status = 201, description = "Added.", body = MemberAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_organization_id`, `invalid_user_id` or `invalid_role`.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn add_member(
    _: Admin,
    path: web::Path<String>,
    body: web::Json<AddMember>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (row, added) = state
        .memberships
        .add(org_id(&path)?, body.into_inner())
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(MemberAnswer {
        success: true,
        member: views::member(&row),
    }))
}

/// `DELETE /api/organizations/{id}/members/{user_id}` (the operator).
#[utoipa::path(
    delete,
    path = "/api/organizations/{id}/members/{user_id}",
    tag = "members",
    security(("admin_token" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "demo-org", description = "The organisation's `c_organization_id`."), ("user_id" = uuid::Uuid, Path, description = "The member's Supabase user id.")),
    responses(
        (status = 200, description = "Removed.", body = RemovedAnswer),
        (status = 400, description = "`invalid_organization_id` or `invalid_user_id`.", body = ErrorBody),
        (status = 401, description = "Not the ADMIN_TOKEN.", body = ErrorBody),
        (status = 404, description = "No such organisation (or the caller is not its member).", body = ErrorBody),
        (status = 503, description = "The database is unavailable.", body = ErrorBody),
    )
)]
pub async fn remove_member(
    _: Admin,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, user) = path.into_inner();
    check_org_id(&org)?;
    let row = state.memberships.remove(&org, &user).await?;
    Ok(HttpResponse::Ok().json(RemovedAnswer {
        success: true,
        removed: views::member(&row),
    }))
}
