//! `limit-webhook` against a fake billing: the org API of the setup phase (admin token,
//! create → payment method → sync) and a limit webhook that checks the signature the way
//! billing does and recharges each team once.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::{web, HttpRequest, HttpResponse};
use billing::access::OrgRole;
use billing::settings::QuotaBackend;
use billing::views::{OrganizationAnswer, OrganizationView};
use common::{assert_report, bearer, loadgen, serve, Fake};
use serde_json::{json, Value};
use tollgate_domain::money::Cents;

const ADMIN_TOKEN: &str = "bench-admin-token";
const WEBHOOK_SECRET: &str = "bench-litellm-secret";

#[derive(Default)]
struct Billing {
    /// c_organization_id → (carded, team once synced).
    orgs: Mutex<HashMap<String, (bool, Option<String>)>>,
    /// team → organisation.
    teams: Mutex<HashMap<String, String>>,
    /// Teams already recharged.
    recharged: Mutex<HashSet<String>>,
    /// Event ids seen.
    event_ids: Mutex<HashSet<String>>,
    webhooks: AtomicU64,
    /// Answer the webhook with this action instead of recharging, when set.
    force_action: Option<&'static str>,
}

fn admin(req: &HttpRequest) -> bool {
    bearer(req).as_deref() == Some(ADMIN_TOKEN)
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"success": false, "error": "unauthorized"}))
}

async fn create(
    req: HttpRequest,
    billing: web::Data<Billing>,
    body: web::Json<Value>,
) -> HttpResponse {
    if !admin(&req) {
        return unauthorized();
    }
    let well_formed = body["minimum_balance"] == 100
        && body["target_balance"] == 500
        && body["minimum_recharge_amount"] == 200;
    let Some(id) = body["c_organization_id"].as_str().filter(|_| well_formed) else {
        return HttpResponse::BadRequest().json(json!({"success": false}));
    };
    let mut orgs = billing.orgs.lock().unwrap();
    if orgs.contains_key(id) {
        return HttpResponse::Conflict().json(json!({"success": false, "error": "exists"}));
    }
    orgs.insert(id.to_owned(), (false, None));
    HttpResponse::Created().json(org_answer(id, None))
}

/// billing's own answer for an organisation (figures at zero).
fn org_answer(id: &str, team: Option<String>) -> OrganizationAnswer {
    let now = chrono::Utc::now();
    OrganizationAnswer {
        success: true,
        organization: OrganizationView {
            c_organization_id: id.to_owned(),
            role: OrgRole::Operator,
            litellm_team_id: team,
            stripe_customer_id: Some(format!("cus_{id}")),
            minimum_balance: Cents(10_000),
            target_balance: Cents(50_000),
            minimum_recharge_amount: Cents(20_000),
            max_daily_recharges: 5,
            auto_recharge_enabled: true,
            auto_recharge_disabled_reason: None,
            auto_recharge_paused_reason: None,
            max_monthly_recharge_amount: None,
            automatic_recharged_this_month: Cents(0),
            consecutive_payment_failures: 0,
            payment_method: None,
            credited_total: Cents(0),
            pending_credit: Cents(0),
            quota_backend: QuotaBackend::Kms,
            kms_quota: None,
            last_usage: None,
            last_usage_at: None,
            kms_synced_at: None,
            created_at: now,
            updated_at: now,
        },
        payment_method: None,
        kms: None,
    }
}

async fn payment_method(
    req: HttpRequest,
    path: web::Path<String>,
    billing: web::Data<Billing>,
    body: web::Json<Value>,
) -> HttpResponse {
    if !admin(&req) {
        return unauthorized();
    }
    if body["payment_method_id"] != "pm_card_visa" || body["set_as_default"] != true {
        return HttpResponse::BadRequest().json(json!({"success": false}));
    }
    match billing.orgs.lock().unwrap().get_mut(path.as_str()) {
        Some(org) => {
            org.0 = true;
            HttpResponse::Ok().json(json!({"success": true}))
        }
        None => HttpResponse::NotFound().json(json!({"success": false})),
    }
}

async fn sync(
    req: HttpRequest,
    path: web::Path<String>,
    billing: web::Data<Billing>,
) -> HttpResponse {
    if !admin(&req) {
        return unauthorized();
    }
    let mut orgs = billing.orgs.lock().unwrap();
    let Some(org) = orgs.get_mut(path.as_str()) else {
        return HttpResponse::NotFound().json(json!({"success": false}));
    };
    let team = org
        .1
        .get_or_insert_with(|| format!("l_team_{}", uuid::Uuid::new_v4().simple()))
        .clone();
    billing
        .teams
        .lock()
        .unwrap()
        .insert(team.clone(), path.to_string());
    HttpResponse::Ok().json(org_answer(&path, Some(team)))
}

async fn webhook(req: HttpRequest, billing: web::Data<Billing>, body: web::Bytes) -> HttpResponse {
    billing.webhooks.fetch_add(1, Ordering::Relaxed);
    let signature = req
        .headers()
        .get("x-webhook-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !tollgate_domain::signature::verify_sha256(WEBHOOK_SECRET.as_bytes(), &body, signature) {
        return HttpResponse::Unauthorized()
            .json(json!({"success": false, "error": "invalid webhook signature"}));
    }
    let Some(event_id) = req
        .headers()
        .get("x-webhook-id")
        .and_then(|v| v.to_str().ok())
    else {
        return HttpResponse::BadRequest().json(json!({"success": false, "error": "no id"}));
    };
    assert!(
        billing
            .event_ids
            .lock()
            .unwrap()
            .insert(event_id.to_owned()),
        "event id {event_id} sent twice"
    );
    let event: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(event["event_type"], "limit_exceeded");
    assert_eq!(event["current_usage"], 520);
    assert_eq!(event["current_limit"], 500);
    assert_eq!(event["exceeded_by"], 20);
    let team = event["team_id"].as_str().unwrap_or_default();
    let Some(org) = billing.teams.lock().unwrap().get(team).cloned() else {
        return HttpResponse::NotFound().json(json!({"success": false}));
    };
    if !billing.orgs.lock().unwrap()[&org].0 {
        return HttpResponse::Ok().json(json!({"success": true, "action": "no_payment_method"}));
    }
    if let Some(action) = billing.force_action {
        return HttpResponse::Ok().json(json!({"success": true, "action": action}));
    }
    let action = if billing.recharged.lock().unwrap().insert(team.to_owned()) {
        "auto_recharged"
    } else {
        "no_action_needed"
    };
    HttpResponse::Ok().json(json!({"success": true, "action": action, "organization_id": org}))
}

fn start(billing: &web::Data<Billing>) -> Fake {
    let b = billing.clone();
    serve(move |cfg| {
        cfg.app_data(b.clone())
            .app_data(web::JsonConfig::default())
            .route("/api/organizations", web::post().to(create))
            .route(
                "/api/organizations/{id}/payment-method",
                web::post().to(payment_method),
            )
            .route("/api/organizations/{id}/sync", web::post().to(sync))
            .route("/webhooks/litellm/limit-exceeded", web::post().to(webhook));
    })
}

fn args<'a>(base: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "limit-webhook",
        "--url",
        base,
        "--admin-token",
        ADMIN_TOKEN,
        "--webhook-secret",
        WEBHOOK_SECRET,
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_iteration_recharges_a_fresh_organisation() {
    let billing = web::Data::new(Billing::default());
    let fake = start(&billing);
    let out = loadgen(&args(
        &fake.base,
        &[
            "--org-prefix",
            "t-1",
            "--concurrency",
            "4",
            "--requests",
            "30",
            "--warmup",
            "5",
            "--json",
        ],
    ))
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_report(&json, "limit-webhook", 4, 30, 30);
    assert_eq!(json["stopped_by"], "count");
    assert_eq!(json["warmup"]["done"], 5);
    // One organisation per iteration (warm-up included), each recharged once.
    let orgs = billing.orgs.lock().unwrap();
    assert_eq!(orgs.len(), 35);
    for i in 0..35 {
        let org = &orgs[&format!("t-1-{i}")];
        assert!(org.0 && org.1.is_some(), "t-1-{i}: {org:?}");
    }
    assert_eq!(billing.recharged.lock().unwrap().len(), 35);
    assert_eq!(billing.webhooks.load(Ordering::Relaxed), 35);
    assert!(
        out.stderr
            .contains("setup (not measured): 35 organisations"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("end-to-end"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_actions_are_failures_named_by_action() {
    let billing = web::Data::new(Billing {
        force_action: Some("processing"),
        ..Billing::default()
    });
    let fake = start(&billing);
    let out = loadgen(&args(
        &fake.base,
        &[
            "--concurrency",
            "2",
            "--requests",
            "6",
            "--orgs",
            "10",
            "--json",
        ],
    ))
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_report(&json, "limit-webhook", 2, 6, 0);
    assert_eq!(json["errors"]["action_processing"], 6, "{json}");
    assert!(json["error_samples"]["action_processing"]
        .as_str()
        .unwrap()
        .contains("action processing"));
    // --orgs above the need: all set up, only six used.
    assert_eq!(billing.orgs.lock().unwrap().len(), 10);
    assert_eq!(billing.webhooks.load(Ordering::Relaxed), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_webhook_secret_is_refused() {
    let billing = web::Data::new(Billing::default());
    let fake = start(&billing);
    let mut a = args(
        &fake.base,
        &["--concurrency", "2", "--requests", "4", "--json"],
    );
    a[6] = "another-secret";
    let out = loadgen(&a).await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(json["errors"]["status_401"], 4, "{json}");
    assert!(billing.recharged.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_setup_stops_before_any_webhook() {
    let billing = web::Data::new(Billing::default());
    let fake = start(&billing);
    let mut a = args(&fake.base, &["--requests", "5"]);
    a[4] = "wrong-admin-token";
    let out = loadgen(&a).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("setup phase failed"), "{}", out.stderr);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert_eq!(billing.webhooks.load(Ordering::Relaxed), 0);

    // An organisation that already exists (a reused prefix) stops the setup too.
    billing
        .orgs
        .lock()
        .unwrap()
        .insert("dup-2".to_owned(), (false, None));
    let out = loadgen(&args(
        &fake.base,
        &["--requests", "5", "--org-prefix", "dup"],
    ))
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("dup-2"), "{}", out.stderr);
    assert!(out.stderr.contains("409"), "{}", out.stderr);
    assert_eq!(billing.webhooks.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_organisations_and_non_local_targets_are_refused() {
    let out = loadgen(&args(
        "http://127.0.0.1:9",
        &["--requests", "10", "--warmup", "2", "--orgs", "11"],
    ))
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--orgs 11"), "{}", out.stderr);
    let out = loadgen(&args("http://example.com", &["--requests", "1"])).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("non-local"), "{}", out.stderr);
    let out = loadgen(&args(
        "http://127.0.0.1:9",
        &["--requests", "1", "--org-prefix", "bad/prefix"],
    ))
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--org-prefix"), "{}", out.stderr);
}
