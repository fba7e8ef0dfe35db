//! `import` against a fake new-api: the import contract, then the key on /v1/models.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::{web, HttpRequest, HttpResponse};
use common::{assert_report, bearer, loadgen, serve, Fake};
use serde_json::{json, Value};

const ADMIN: &str = "bench-admin-token";

#[derive(Default)]
struct Gateway {
    keys: Mutex<HashSet<String>>,
    users: Mutex<HashSet<String>>,
    imports: AtomicU64,
    models_ok: AtomicU64,
    /// Answer `success:false` to every n-th import (0: never).
    fail_every: u64,
}

async fn import(req: HttpRequest, gw: web::Data<Gateway>, body: web::Bytes) -> HttpResponse {
    let n = gw.imports.fetch_add(1, Ordering::Relaxed) + 1;
    if bearer(&req).as_deref() != Some(ADMIN) {
        return HttpResponse::Unauthorized().json(json!({"success": false, "message": "admin"}));
    }
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::Ok().json(json!({"success": false, "message": "bad json"}));
    };
    let key = b["key"].as_str().unwrap_or_default();
    let user = b["external_user_id"].as_str().unwrap_or_default();
    let valid = key.len() == 48
        && key.bytes().all(|c| c.is_ascii_alphanumeric())
        && uuid::Uuid::parse_str(user).is_ok()
        && b["name"] == "default"
        && b["unlimited_quota"] == true;
    if !valid {
        return HttpResponse::Ok().json(json!({"success": false, "message": "invalid request"}));
    }
    if gw.fail_every > 0 && n.is_multiple_of(gw.fail_every) {
        // new-api's way: HTTP 200 and success:false.
        return HttpResponse::Ok().json(json!({"success": false, "message": "simulated failure"}));
    }
    gw.keys.lock().unwrap().insert(key.to_owned());
    gw.users.lock().unwrap().insert(user.to_owned());
    HttpResponse::Ok().json(json!({"success": true, "message": "", "data": {"token_id": n}}))
}

async fn models(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    let known = bearer(&req)
        .and_then(|t| t.strip_prefix("sk-").map(str::to_owned))
        .is_some_and(|k| gw.keys.lock().unwrap().contains(&k));
    if known {
        gw.models_ok.fetch_add(1, Ordering::Relaxed);
        HttpResponse::Ok().json(json!({"data": []}))
    } else {
        HttpResponse::Unauthorized().json(json!({"error": "invalid token"}))
    }
}

fn start(gw: &web::Data<Gateway>) -> Fake {
    let gw = gw.clone();
    serve(move |cfg| {
        cfg.app_data(gw.clone())
            .route("/api/token/import", web::post().to(import))
            .route("/v1/models", web::get().to(models));
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_import_makes_a_working_key() {
    let gw = web::Data::new(Gateway::default());
    let fake = start(&gw);
    let out = loadgen(&[
        "import",
        "--newapi",
        &fake.base,
        "--admin-token",
        ADMIN,
        "--concurrency",
        "8",
        "--requests",
        "64",
        "--warmup",
        "10",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_report(&json, "import", 8, 64, 64);
    assert_eq!(json["steps"]["import"]["count"], 64);
    assert_eq!(json["steps"]["models"]["count"], 64);
    assert_eq!(json["limits"]["requests"], 64);
    assert_eq!(json["limits"]["timeout_s"], 10.0);
    assert_eq!(gw.imports.load(Ordering::Relaxed), 74);
    assert_eq!(gw.models_ok.load(Ordering::Relaxed), 74);
    // A fresh key and a fresh user every time.
    assert_eq!(gw.keys.lock().unwrap().len(), 74);
    assert_eq!(gw.users.lock().unwrap().len(), 74);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_in_ten_is_counted_and_fails_the_run() {
    let gw = web::Data::new(Gateway {
        fail_every: 10,
        ..Gateway::default()
    });
    let fake = start(&gw);
    let args = |allow: bool| {
        let mut a = vec![
            "import",
            "--newapi",
            &fake.base,
            "--admin-token",
            ADMIN,
            "--concurrency",
            "4",
            "--requests",
            "50",
            "--json",
        ];
        if allow {
            a.push("--allow-errors");
        }
        a
    };
    let out = loadgen(&args(false)).await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_report(&json, "import", 4, 50, 45);
    assert_eq!(json["errors"]["import.success_false"], 5, "{json}");
    assert_eq!(
        json["error_samples"]["import.success_false"],
        "simulated failure"
    );
    assert!(
        out.stderr.contains("import.success_false"),
        "{}",
        out.stderr
    );

    let out = loadgen(&args(true)).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["errors"]["import.success_false"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_admin_token_is_an_http_error() {
    let gw = web::Data::new(Gateway::default());
    let fake = start(&gw);
    let out = loadgen(&[
        "import",
        "--newapi",
        &fake.url("/"),
        "--admin-token",
        "nope",
        "--concurrency",
        "2",
        "--requests",
        "3",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    // Without --json the table is on stdout.
    assert!(out.stdout.contains("import.status_401"), "{}", out.stdout);
    assert!(out.stdout.contains("end-to-end"), "{}", out.stdout);
}
