//! `signup` against a fake key-sync (webhook, /v1/keys with JWT check) and a fake new-api
//! that only accepts the keys the fake key-sync issued.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::{web, HttpRequest, HttpResponse};
use common::{assert_report, bearer, key48, loadgen, serve, Fake};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use key_sync::handlers::views::{
    KeyStatus, OwnerKey, OwnerKeyList, SignupAnswer, SyncState, SyncView,
};
use serde::Deserialize;
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "bench-webhook-secret";
const JWT_SECRET: &str = "bench-jwt-secret-with-at-least-32-characters";

#[derive(Default)]
struct World {
    /// user id → the `sk-…` key issued to them.
    keys: Mutex<HashMap<String, String>>,
    /// Every `sk-…` key issued.
    issued: Mutex<HashSet<String>>,
    webhooks: AtomicU64,
    key_lists: AtomicU64,
    models_ok: AtomicU64,
    models_refused: AtomicU64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    role: String,
}

async fn webhook(req: HttpRequest, world: web::Data<World>, body: web::Bytes) -> HttpResponse {
    world.webhooks.fetch_add(1, Ordering::Relaxed);
    if bearer(&req).as_deref() != Some(WEBHOOK_SECRET) {
        return HttpResponse::Unauthorized().json(json!({"code": "unauthorized"}));
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"code": "bad_json"}));
    };
    let id = payload["record"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let well_formed = payload["type"] == "INSERT"
        && payload["table"] == "users"
        && payload["schema"] == "auth"
        && payload["old_record"].is_null()
        && uuid::Uuid::parse_str(&id).is_ok()
        && payload["record"]["email"] == format!("{id}@bench.local");
    if !well_formed {
        return HttpResponse::BadRequest().json(json!({"code": "bad_payload"}));
    }
    let key = format!("sk-{}", key48());
    world.issued.lock().unwrap().insert(key.clone());
    world.keys.lock().unwrap().insert(id, key);
    HttpResponse::Ok().json(signed_up(true))
}

/// key-sync's own answer to a signup webhook.
fn signed_up(synced: bool) -> SignupAnswer {
    SignupAnswer {
        key_id: uuid::Uuid::new_v4(),
        synced,
        created: true,
    }
}

/// key-sync's own view of a user's default key.
fn owner_key(key: &str) -> OwnerKey {
    OwnerKey {
        id: uuid::Uuid::new_v4(),
        name: "default".into(),
        default: true,
        key: Some(key.to_owned()),
        hint: format!("sk-…{}", &key[key.len() - 4..]),
        status: KeyStatus::Active,
        synced: true,
        sync: SyncView {
            state: SyncState::Synced,
            newapi_token_id: Some(1),
            attempts: 1,
            error: None,
            next_attempt_at: None,
            synced_at: Some(chrono::Utc::now()),
        },
        created_at: chrono::Utc::now(),
        revoked_at: None,
        replaced_by: None,
        takes_effect: None,
        replaces: None,
    }
}

async fn list_keys(req: HttpRequest, world: web::Data<World>) -> HttpResponse {
    world.key_lists.fetch_add(1, Ordering::Relaxed);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["authenticated"]);
    let claims = bearer(&req).and_then(|token| {
        jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(JWT_SECRET.as_bytes()),
            &validation,
        )
        .ok()
    });
    let Some(claims) = claims.map(|c| c.claims) else {
        return HttpResponse::Unauthorized().json(json!({"code": "invalid_token"}));
    };
    if claims.role != "authenticated" {
        return HttpResponse::Forbidden().json(json!({"code": "bad_role"}));
    }
    let keys = match world.keys.lock().unwrap().get(&claims.sub) {
        Some(key) => vec![owner_key(key)],
        None => vec![],
    };
    HttpResponse::Ok().json(OwnerKeyList { keys })
}

async fn models(req: HttpRequest, world: web::Data<World>) -> HttpResponse {
    let known = bearer(&req).is_some_and(|key| world.issued.lock().unwrap().contains(&key));
    if known {
        world.models_ok.fetch_add(1, Ordering::Relaxed);
        HttpResponse::Ok().json(json!({"object": "list", "data": []}))
    } else {
        world.models_refused.fetch_add(1, Ordering::Relaxed);
        HttpResponse::Unauthorized().json(json!({"error": "invalid token"}))
    }
}

fn start(world: &web::Data<World>) -> (Fake, Fake) {
    let w = world.clone();
    let key_sync = serve(move |cfg| {
        cfg.app_data(w.clone())
            .route("/webhooks/supabase/users", web::post().to(webhook))
            .route("/v1/keys", web::get().to(list_keys));
    });
    let w = world.clone();
    let newapi = serve(move |cfg| {
        cfg.app_data(w.clone())
            .route("/v1/models", web::get().to(models));
    });
    (key_sync, newapi)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signup_gets_a_key_that_works_on_the_gateway() {
    let world = web::Data::new(World::default());
    let (key_sync, newapi) = start(&world);
    let out = loadgen(&[
        "signup",
        "--key-sync",
        &key_sync.base,
        "--newapi",
        &newapi.base,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--jwt-secret",
        JWT_SECRET,
        "--concurrency",
        "5",
        "--requests",
        "40",
        "--warmup",
        "6",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_report(&json, "signup", 5, 40, 40);
    assert_eq!(json["stopped_by"], "count");
    assert_eq!(json["warmup"]["requested"], 6);
    assert_eq!(json["warmup"]["done"], 6);
    let steps = json["steps"].as_object().expect("steps");
    let mut names: Vec<&str> = steps.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["keys", "models", "webhook"]);
    // The JSON line and the table list the steps in the order they run.
    let at = |text: &str, s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(at(&out.stdout, "\"webhook\":{") < at(&out.stdout, "\"keys\":{"));
    assert!(at(&out.stdout, "\"keys\":{") < at(&out.stdout, "\"models\":{"));
    assert!(at(&out.stderr, "  webhook") < at(&out.stderr, "  keys"));
    assert!(at(&out.stderr, "  keys") < at(&out.stderr, "  models"));
    for (name, latency) in steps {
        assert_eq!(latency["count"], 40, "{name}: {json}");
        assert!(latency["p99"].as_f64().unwrap() > 0.0, "{name}: {json}");
    }
    // Warm-up and measured iterations each did all three steps, with one user each.
    assert_eq!(world.webhooks.load(Ordering::Relaxed), 46);
    assert_eq!(world.key_lists.load(Ordering::Relaxed), 46);
    assert_eq!(world.models_ok.load(Ordering::Relaxed), 46);
    assert_eq!(world.models_refused.load(Ordering::Relaxed), 0);
    assert_eq!(world.keys.lock().unwrap().len(), 46);
    // The table went to stderr, with every step.
    for row in ["end-to-end", "webhook", "keys", "models", "p99"] {
        assert!(out.stderr.contains(row), "{row} missing: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_jwt_secret_fails_at_the_keys_step() {
    let world = web::Data::new(World::default());
    let (key_sync, newapi) = start(&world);
    let out = loadgen(&[
        "signup",
        "--key-sync",
        &key_sync.base,
        "--newapi",
        &newapi.base,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--jwt-secret",
        "another-secret-another-secret-another-secret",
        "--concurrency",
        "3",
        "--requests",
        "9",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_report(&json, "signup", 3, 9, 0);
    assert_eq!(json["errors"]["keys.status_401"], 9, "{json}");
    assert!(json["error_samples"]["keys.status_401"]
        .as_str()
        .unwrap()
        .contains("invalid_token"));
    // The webhook step completed and was measured; the gateway was never asked.
    assert_eq!(json["steps"]["webhook"]["count"], 9);
    assert_eq!(json["steps"]["keys"]["count"], 0);
    assert_eq!(world.models_ok.load(Ordering::Relaxed), 0);
    assert!(out.stderr.contains("--allow-errors"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_webhook_secret_fails_at_the_webhook_step() {
    let world = web::Data::new(World::default());
    let (key_sync, newapi) = start(&world);
    let out = loadgen(&[
        "signup",
        "--key-sync",
        &key_sync.base,
        "--newapi",
        &newapi.base,
        "--webhook-secret",
        "wrong",
        "--jwt-secret",
        JWT_SECRET,
        "--concurrency",
        "2",
        "--requests",
        "4",
        "--allow-errors",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 0, "--allow-errors: {out:?}");
    let json = out.json();
    assert_eq!(json["errors"]["webhook.status_401"], 4, "{json}");
    assert_eq!(world.key_lists.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_are_not_synced_are_noted() {
    // A key-sync whose webhook answers synced:false and whose key list is empty.
    let key_sync = serve(|cfg| {
        cfg.route(
            "/webhooks/supabase/users",
            web::post().to(|| async { HttpResponse::Ok().json(signed_up(false)) }),
        )
        .route(
            "/v1/keys",
            web::get().to(|| async { HttpResponse::Ok().json(OwnerKeyList { keys: vec![] }) }),
        );
    });
    let out = loadgen(&[
        "signup",
        "--key-sync",
        &key_sync.base,
        "--newapi",
        &key_sync.base,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--jwt-secret",
        JWT_SECRET,
        "--concurrency",
        "2",
        "--requests",
        "6",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 1);
    let json = out.json();
    assert_eq!(json["errors"]["keys.no_key"], 6, "{json}");
    assert_eq!(json["notes"]["webhook_synced_false"], 6, "{json}");
}
