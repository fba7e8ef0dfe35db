//! HTTP routes: the KMS contract and the `/_sim/` control plane.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::money::{self, Dollars};
use crate::state::StoreError;
use crate::stats::Route;
use crate::Sim;

/// Register every route of the simulator (the fault control routes excepted).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    cfg.service(resource("/health").route(web::get().to(health)))
        .service(resource("/organizations/").route(web::post().to(create)))
        .service(resource("/organizations").route(web::post().to(create)))
        .service(resource("/organizations/{id}").route(web::get().to(get)))
        .service(resource("/organizations/{id}/quota").route(web::put().to(set_quota)))
        .service(resource("/organizations/{id}/usage").route(web::post().to(add_usage)))
        .service(resource("/_sim/state").route(web::get().to(sim_state)))
        .service(resource("/_sim/stats").route(web::get().to(sim_stats)))
        .service(resource("/_sim/webhooks").route(web::get().to(sim_webhooks)))
        .service(
            resource("/_sim/organizations/{id}/limit-exceeded")
                .route(web::post().to(force_limit_exceeded)),
        );
}

/// Middleware counting calls per KMS route (outermost, so faulted calls count too).
pub(crate) async fn count_calls(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(route) = Route::classify(req.method(), req.path()) {
        if let Some(sim) = req.app_data::<web::Data<Sim>>() {
            sim.counters.hit(route);
        }
    }
    next.call(req).await
}

/// FastAPI-style error: `{"detail": …}`.
fn detail(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "detail": message.into() }))
}

/// Unknown path.
pub(crate) async fn not_found() -> HttpResponse {
    detail(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed() -> HttpResponse {
    detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

fn store_error(error: &StoreError) -> HttpResponse {
    let status = match error {
        StoreError::Exists => StatusCode::CONFLICT,
        StoreError::NotFound => StatusCode::NOT_FOUND,
        StoreError::TooLarge => StatusCode::UNPROCESSABLE_ENTITY,
    };
    detail(status, error.to_string())
}

/// Read a JSON body whatever its content type; the error is the 422 detail (like FastAPI's).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "malformed JSON body"
        } else {
            "invalid request body"
        };
        format!("{what}: {e}")
    })
}

fn unprocessable(message: impl Into<String>) -> HttpResponse {
    detail(StatusCode::UNPROCESSABLE_ENTITY, message)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[derive(Deserialize)]
struct CreateOrg {
    c_organization_id: String,
    quota: Dollars,
}

async fn create(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let request: CreateOrg = match parse(&body) {
        Ok(r) => r,
        Err(message) => return unprocessable(message),
    };
    let id = request.c_organization_id.as_str();
    if id.trim().is_empty() || id.contains('/') || id.len() > 255 {
        return unprocessable("c_organization_id must be 1-255 characters without '/'");
    }
    match sim.store.create(id, request.quota.0) {
        Ok(org) => {
            tracing::info!(org = id, team = %org.l_team_id, quota_cents = org.quota_cents, "organization created");
            HttpResponse::Created().json(json!({
                "c_organization_id": org.c_organization_id,
                "l_team_id": org.l_team_id,
                "quota": money::to_json(org.quota_cents),
            }))
        }
        Err(e) => store_error(&e),
    }
}

async fn get(sim: web::Data<Sim>, id: web::Path<String>) -> HttpResponse {
    match sim.store.get(&id) {
        Some(org) => HttpResponse::Ok().json(org.to_json()),
        None => store_error(&StoreError::NotFound),
    }
}

#[derive(Deserialize)]
struct SetQuota {
    new_quota: Dollars,
}

async fn set_quota(sim: web::Data<Sim>, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let request: SetQuota = match parse(&body) {
        Ok(r) => r,
        Err(message) => return unprocessable(message),
    };
    match sim.store.set_quota(&id, request.new_quota.0) {
        Ok(org) => {
            tracing::info!(org = %id, quota_cents = org.quota_cents, "quota set");
            HttpResponse::Ok().json(org.to_json())
        }
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize)]
struct AddUsage {
    amount: Dollars,
}

async fn add_usage(sim: web::Data<Sim>, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let request: AddUsage = match parse(&body) {
        Ok(r) => r,
        Err(message) => return unprocessable(message),
    };
    if request.amount.0 == 0 {
        return unprocessable("amount must be greater than 0");
    }
    let outcome = match sim.store.add_usage(&id, request.amount.0) {
        Ok(outcome) => outcome,
        Err(e) => return store_error(&e),
    };
    let sent = outcome.crossed && sim.notifier.limit_exceeded(&outcome.org, false).is_some();
    let mut answer = outcome.org.to_json();
    answer["webhook_sent"] = json!(sent);
    HttpResponse::Ok().json(answer)
}

async fn sim_state(sim: web::Data<Sim>) -> HttpResponse {
    let organizations: Vec<_> = sim
        .store
        .all()
        .iter()
        .map(|org| {
            let mut v = org.to_json();
            v["over_quota"] = json!(org.is_over_quota());
            v
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "organizations": organizations,
        "webhook_url": sim.notifier.url(),
    }))
}

async fn sim_stats(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.counters.snapshot())
}

async fn sim_webhooks(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "deliveries": sim.notifier.deliveries() }))
}

async fn force_limit_exceeded(sim: web::Data<Sim>, id: web::Path<String>) -> HttpResponse {
    let Some(org) = sim.store.get(&id) else {
        return store_error(&StoreError::NotFound);
    };
    match sim.notifier.limit_exceeded(&org, true) {
        Some(delivery_id) => HttpResponse::Accepted().json(json!({ "delivery_id": delivery_id })),
        None => detail(StatusCode::CONFLICT, "no webhook URL is configured"),
    }
}
