//! HTTP routes: LiteLLM's team management API (master key only) and the `/_sim/` control
//! plane (never faulted, no auth).

// A refused request's answer is the error: these run once per simulated request, where
// the size of an `HttpResponse` in a `Result` costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::alerts::{Alert, WebhookEvent};
use crate::body::{self, Field};
use crate::errors::{auth_error, http_exception, proxy_error, py_float};
use crate::team::{duration_valid, reset_at, StoreError, Team, TeamRow};
use crate::Sim;

/// Register every route of the simulator (the fault control routes excepted).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    cfg.service(resource("/health/liveliness").route(web::get().to(liveliness)))
        .service(resource("/team/new").route(web::post().to(team_new)))
        .service(resource("/team/update").route(web::post().to(team_update)))
        .service(resource("/team/info").route(web::get().to(team_info)))
        .service(resource("/_sim/state").route(web::get().to(sim_state)))
        .service(resource("/_sim/stats").route(web::get().to(sim_stats)))
        .service(resource("/_sim/alerts").route(web::get().to(sim_alerts)))
        .service(resource("/_sim/silences").route(web::delete().to(sim_clear_silences)))
        .service(resource("/_sim/flush").route(web::post().to(sim_flush)))
        .service(resource("/_sim/teams/{id}/spend").route(web::post().to(sim_spend)))
        .service(resource("/_sim/teams/{id}/alert").route(web::post().to(sim_alert)));
}

/// Middleware counting calls per LiteLLM route (outermost, so faulted calls count too).
pub(crate) async fn count_calls(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !req.path().starts_with("/_sim/") {
        if let Some(sim) = req.app_data::<web::Data<Sim>>() {
            sim.count(req.path());
        }
    }
    next.call(req).await
}

/// Unknown path (FastAPI's answer).
pub(crate) async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({ "detail": "Not Found" }))
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({ "detail": "Method Not Allowed" }))
}

async fn liveliness() -> HttpResponse {
    HttpResponse::Ok().json("I'm alive!")
}

/// `abcd****wxyz`: how LiteLLM shows a key it refuses.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// The master key check of `user_api_key_auth`: `x-litellm-api-key`, else `Authorization`
/// with a `Bearer ` (or `bearer `, `Basic `) prefix; compared in constant time.
fn authorize(req: &HttpRequest, sim: &Sim) -> Result<(), HttpResponse> {
    let headers = req.headers();
    let raw = headers
        .get("x-litellm-api-key")
        .or_else(|| headers.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let Some(raw) = raw else {
        return Err(auth_error("Authentication Error, No api key passed in."));
    };
    let key = ["Bearer ", "bearer ", "Basic "]
        .iter()
        .find_map(|p| raw.strip_prefix(p))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Err(auth_error(
            "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.",
        ));
    };
    if bool::from(key.as_bytes().ct_eq(sim.master_key.as_bytes())) {
        return Ok(());
    }
    if !key.starts_with("sk-") {
        return Err(auth_error(format!(
            "LiteLLM Virtual Key expected. Received={}, expected to start with 'sk-'.",
            masked(key)
        )));
    }
    Err(proxy_error(
        StatusCode::UNAUTHORIZED,
        "token_not_found_in_db",
        "Authentication Error, Invalid API key provided.",
        Some("key"),
    ))
}

/// The budget fields of `/team/new` and `/team/update`, validated as LiteLLM does.
struct Budget {
    max_budget: Field<f64>,
    soft_budget: Field<f64>,
    budget_duration: Field<String>,
}

fn budget_fields(map: &serde_json::Map<String, serde_json::Value>) -> Result<Budget, HttpResponse> {
    let budget = Budget {
        max_budget: body::float(map, "max_budget")?,
        soft_budget: body::float(map, "soft_budget")?,
        budget_duration: body::string(map, "budget_duration")?,
    };
    for (name, value) in [
        ("max_budget", &budget.max_budget),
        ("soft_budget", &budget.soft_budget),
    ] {
        if let Field::Set(v) = value {
            if !v.is_finite() || *v < 0.0 {
                return Err(bad_request(&format!(
                    "{name} must be a non-negative finite number. Received: {}",
                    py_float(*v)
                )));
            }
        }
    }
    if let Field::Set(d) = &budget.budget_duration {
        if !duration_valid(d) {
            return Err(bad_request(&format!(
                "Invalid budget_duration '{d}'. Use a format like '1h', '24h', '7d', or '30d'."
            )));
        }
    }
    Ok(budget)
}

fn bad_request(text: &str) -> HttpResponse {
    http_exception(StatusCode::BAD_REQUEST, "error", text)
}

/// `soft_budget` must stay strictly below `max_budget`.
fn check_soft(soft: Option<f64>, max: Option<f64>) -> Result<(), HttpResponse> {
    match (soft, max) {
        (Some(soft), Some(max)) if soft >= max => Err(bad_request(&format!(
            "soft_budget ({}) must be strictly lower than max_budget ({})",
            py_float(soft),
            py_float(max)
        ))),
        _ => Ok(()),
    }
}

/// A handler's answer when each step may answer instead (a refusal).
fn answer(result: Result<HttpResponse, HttpResponse>) -> HttpResponse {
    result.unwrap_or_else(|refused| refused)
}

async fn team_new(req: HttpRequest, sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    answer(
        authorize(&req, &sim)
            .and_then(|()| body::object(&body))
            .and_then(|map| new_team(&sim, &map)),
    )
}

fn new_team(
    sim: &Sim,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<HttpResponse, HttpResponse> {
    let budget = budget_fields(map)?;
    let team_id = body::string(map, "team_id")?.value();
    let team_alias = body::string(map, "team_alias")?.value();
    let metadata = body::dict(map, "metadata")?.value().unwrap_or_default();
    let models = body::strings(map, "models")?.value().unwrap_or_default();
    let blocked = body::boolean(map, "blocked")?.value().unwrap_or(false);
    let max_budget = budget.max_budget.value();
    let soft_budget = budget.soft_budget.value();
    check_soft(soft_budget, max_budget)?;
    // An omitted duration takes `default_team_params`; an explicit null is kept.
    let budget_duration = match budget.budget_duration {
        Field::Missing => sim.default_budget_duration.clone(),
        other => other.value(),
    };
    let now = Utc::now();
    let team_id = team_id
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let team = Team {
        budget_reset_at: budget_duration.as_deref().and_then(|d| reset_at(d, now)),
        team_id,
        team_alias,
        max_budget,
        soft_budget,
        budget_duration,
        blocked,
        metadata,
        models,
        spend: 0.0,
        reported_spend: 0.0,
        created_at: now,
        updated_at: now,
    };
    let id = team.team_id.clone();
    let team = sim.store.insert(team).map_err(|_| {
        bad_request(&format!(
            "Team id = {id} already exists. Please use a different team id."
        ))
    })?;
    tracing::info!(team = %team.team_id, max_budget = ?team.max_budget, "team created");
    Ok(HttpResponse::Ok().json(team.row()))
}

#[derive(Serialize)]
struct Updated<'a> {
    team_id: &'a str,
    data: TeamRow<'a>,
}

async fn team_update(req: HttpRequest, sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    answer(
        authorize(&req, &sim)
            .and_then(|()| body::object(&body))
            .and_then(|map| update_team(&sim, &map)),
    )
}

fn update_team(
    sim: &Sim,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<HttpResponse, HttpResponse> {
    let Field::Set(team_id) = body::string(map, "team_id")? else {
        return Err(crate::errors::validation_error(
            "missing",
            &["body", "team_id"],
            "Field required",
        ));
    };
    let budget = budget_fields(map)?;
    let team_alias = body::string(map, "team_alias")?;
    let metadata = body::dict(map, "metadata")?;
    let models = body::strings(map, "models")?;
    let blocked = body::boolean(map, "blocked")?;
    let now = Utc::now();
    // Only the fields sent are written.
    let changed = sim.store.update(&team_id, |team| {
        let max = budget.max_budget.clone().or_kept(team.max_budget);
        let soft = budget.soft_budget.clone().or_kept(team.soft_budget);
        if budget.soft_budget.sent() || budget.max_budget.sent() {
            check_soft(soft, max)?;
        }
        team.max_budget = max;
        team.soft_budget = soft;
        if budget.budget_duration.sent() {
            team.budget_duration = budget.budget_duration.clone().value();
            team.budget_reset_at = team
                .budget_duration
                .as_deref()
                .and_then(|d| reset_at(d, now));
        }
        team.team_alias = team_alias.clone().or_kept(team.team_alias.take());
        if let Some(m) = metadata.clone().value() {
            team.metadata = m;
        }
        if let Some(m) = models.clone().value() {
            team.models = m;
        }
        if let Some(b) = blocked.clone().value() {
            team.blocked = b;
        }
        team.updated_at = now;
        Ok::<_, HttpResponse>(())
    });
    let team = changed.map_err(|_| {
        http_exception(
            StatusCode::NOT_FOUND,
            "error",
            &format!("Team not found, passed team_id={team_id}"),
        )
    })??;
    tracing::info!(team = %team.team_id, max_budget = ?team.max_budget, "team updated");
    Ok(HttpResponse::Ok().json(Updated {
        team_id: &team.team_id,
        data: team.row(),
    }))
}

#[derive(Deserialize)]
struct InfoQuery {
    team_id: Option<String>,
}

#[derive(Serialize)]
struct TeamInfo<'a> {
    #[serde(flatten)]
    row: TeamRow<'a>,
    team_member_budget_table: Option<serde_json::Value>,
    model_max_budget_usage: serde_json::Map<String, serde_json::Value>,
    caller_edit_access: serde_json::Value,
}

#[derive(Serialize)]
struct InfoAnswer<'a> {
    team_id: &'a str,
    team_info: TeamInfo<'a>,
    keys: Vec<serde_json::Value>,
    team_memberships: Vec<serde_json::Value>,
}

async fn team_info(
    req: HttpRequest,
    sim: web::Data<Sim>,
    query: web::Query<InfoQuery>,
) -> HttpResponse {
    if let Err(denied) = authorize(&req, &sim) {
        return denied;
    }
    let Some(id) = query.team_id.as_deref().filter(|id| !id.is_empty()) else {
        return http_exception(
            StatusCode::UNPROCESSABLE_ENTITY,
            "message",
            "Malformed request. No team id passed in.",
        );
    };
    let Some(team) = sim.store.get(id) else {
        return http_exception(
            StatusCode::NOT_FOUND,
            "message",
            &format!("Team not found, passed team id: {id}."),
        );
    };
    HttpResponse::Ok().json(InfoAnswer {
        team_id: &team.team_id,
        team_info: TeamInfo {
            row: team.row(),
            team_member_budget_table: None,
            model_max_budget_usage: serde_json::Map::new(),
            caller_edit_access: serde_json::json!({ "kind": "unrestricted" }),
        },
        keys: Vec::new(),
        team_memberships: Vec::new(),
    })
}

/// The team's view in `/_sim/state`.
#[derive(Serialize)]
struct TeamState<'a> {
    team_id: &'a str,
    team_alias: Option<&'a str>,
    max_budget: Option<f64>,
    budget_duration: Option<&'a str>,
    spend: f64,
    reported_spend: f64,
    over_budget: bool,
}

#[derive(Serialize)]
struct SimState<'a> {
    teams: Vec<TeamState<'a>>,
    webhook_url: Option<String>,
}

async fn sim_state(sim: web::Data<Sim>) -> HttpResponse {
    let teams = sim.store.all();
    HttpResponse::Ok().json(SimState {
        teams: teams
            .iter()
            .map(|t| TeamState {
                team_id: &t.team_id,
                team_alias: t.team_alias.as_deref(),
                max_budget: t.max_budget,
                budget_duration: t.budget_duration.as_deref(),
                spend: t.spend,
                reported_spend: t.reported_spend,
                over_budget: t.over_budget(),
            })
            .collect(),
        webhook_url: sim.alerter.url(),
    })
}

async fn sim_stats(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.stats())
}

#[derive(Serialize)]
struct Alerts {
    alerts: Vec<Alert>,
}

async fn sim_alerts(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(Alerts {
        alerts: sim.alerter.alerts(),
    })
}

async fn sim_clear_silences(sim: web::Data<Sim>) -> HttpResponse {
    sim.alerter.clear_silences();
    HttpResponse::NoContent().finish()
}

async fn sim_flush(sim: web::Data<Sim>) -> HttpResponse {
    sim.store.flush_spend();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Spend {
    amount: f64,
    #[serde(default)]
    key: Option<String>,
}

/// The answer to a request that was let through.
#[derive(Debug, Serialize)]
pub struct Spent {
    /// The team.
    pub team_id: String,
    /// Its spend counter after the request (dollars).
    pub spend: f64,
    /// Its budget.
    pub max_budget: Option<f64>,
}

/// What a simulated request by a team key did.
#[derive(Debug)]
pub enum Request {
    /// Let through and charged.
    Served(Spent),
    /// Rejected with LiteLLM's budget error (`spend > max_budget`); an alert was raised
    /// unless silenced (its id).
    Rejected {
        /// The error message LiteLLM answers.
        message: String,
        /// The alert raised, if any.
        alert: Option<u64>,
    },
    /// No such team.
    UnknownTeam,
    /// The amount is not a finite, non-negative number.
    BadAmount,
}

/// The virtual key a simulated team request uses when none is named.
fn team_key(team_id: &str) -> String {
    format!("sk-sim-team-{team_id}")
}

impl Sim {
    /// One LLM request by a key of team `id` costing `amount` dollars: rejected (and alerted)
    /// when the team is already over budget, otherwise charged.
    pub(crate) fn request(&self, id: &str, amount: f64, key: Option<&str>) -> Request {
        if !amount.is_finite() || amount < 0.0 {
            return Request::BadAmount;
        }
        let flush_now = self.spend_flush.is_zero();
        let outcome = self.store.update(id, |team| {
            if team.over_budget() {
                return Err(team.clone());
            }
            team.spend += amount;
            if flush_now {
                team.reported_spend = team.spend;
            }
            Ok(())
        });
        match outcome {
            Err(_) => Request::UnknownTeam,
            Ok(Ok(team)) => Request::Served(Spent {
                team_id: team.team_id,
                spend: team.spend,
                max_budget: team.max_budget,
            }),
            Ok(Err(team)) => {
                let key = key.map_or_else(|| team_key(id), str::to_owned);
                let token = hex_sha256(&key);
                let alert = self
                    .alerter
                    .raise(WebhookEvent::budget_crossed(&team, token), false);
                Request::Rejected {
                    message: format!(
                        "Budget has been exceeded! Team={} Current cost: {}, Max budget: {}",
                        team.team_id,
                        py_float(team.spend),
                        team.max_budget.map_or_else(|| "None".into(), py_float)
                    ),
                    alert,
                }
            }
        }
    }

    /// Raise team `id`'s `budget_crossed` alert now, silenced or not.
    pub(crate) fn force_alert(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let team = self.store.get(id).ok_or(StoreError::NotFound)?;
        let token = hex_sha256(&team_key(id));
        Ok(self
            .alerter
            .raise(WebhookEvent::budget_crossed(&team, token), true))
    }
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn sim_spend(sim: web::Data<Sim>, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let Ok(spend) = serde_json::from_slice::<Spend>(&body) else {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({ "detail": "body must be {\"amount\": <dollars>, \"key\"?: <key>}" }));
    };
    match sim.request(&id, spend.amount, spend.key.as_deref()) {
        Request::Served(spent) => HttpResponse::Ok().json(spent),
        Request::Rejected { message, .. } => proxy_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "budget_exceeded",
            message,
            None,
        ),
        Request::UnknownTeam => {
            HttpResponse::NotFound().json(serde_json::json!({ "detail": "team not found" }))
        }
        Request::BadAmount => HttpResponse::BadRequest()
            .json(serde_json::json!({ "detail": "amount must be a finite number >= 0" })),
    }
}

async fn sim_alert(sim: web::Data<Sim>, id: web::Path<String>) -> HttpResponse {
    match sim.force_alert(&id) {
        Ok(Some(alert)) => HttpResponse::Accepted().json(serde_json::json!({ "alert_id": alert })),
        Ok(None) => HttpResponse::Conflict()
            .json(serde_json::json!({ "detail": "no WEBHOOK_URL is configured" })),
        Err(_) => HttpResponse::NotFound().json(serde_json::json!({ "detail": "team not found" })),
    }
}
