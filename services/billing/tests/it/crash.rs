//! The process is killed between Stripe's charge and billing recording it: after a restart,
//! reconcile finds the charge by its metadata and delivers it — one charge, quota raised.
//!
//! A forwarding proxy in front of localstripe holds the charge's answer back and tells the
//! test, which then SIGKILLs the billing binary: a real crash at the worst moment.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use billing::store::recharges::RechargeStatus;
use billing::views::{EventAction, EventAnswer, OrganizationAnswer, PageOf, RechargeView};
use serde_json::json;
use tokio::sync::mpsc;
use tollgate_domain::signature::sign_sha256;
use tollgate_testkit::{
    answer, free_listener, kms_sim, wait_until_up, LocalStripe, TestDb, ADMIN_TOKEN, WEBHOOK_SECRET,
};

const BIN: &str = env!("CARGO_BIN_EXE_billing");

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    charged: mpsc::UnboundedSender<()>,
}

async fn forward(req: HttpRequest, body: web::Bytes, proxy: web::Data<Proxy>) -> HttpResponse {
    let url = format!("{}{}", proxy.upstream, req.uri());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut out = proxy.http.request(method, url).body(body.to_vec());
    for (name, value) in req.headers() {
        if name != "host" && name != "content-length" {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = out.send().await.expect("localstripe answers");
    let status = answer.status().as_u16();
    let bytes = answer.bytes().await.unwrap();
    if req.method() == "POST" && req.path() == "/v1/payment_intents" {
        // Stripe has charged; billing never hears of it.
        proxy.charged.send(()).unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(bytes)
}

fn start_billing(db: &str, kms: &str, stripe: &str, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .env_clear()
        .envs([
            ("DATABASE_URL", db),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("HOST", "127.0.0.1"),
            ("KMS_BASE_URL", kms),
            ("LITELLM_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_SECRET_KEY", support::STRIPE_KEY),
            ("STRIPE_API_BASE", stripe),
            ("RECONCILE_GRACE_SECS", "0"),
            ("RUST_LOG", "warn"),
        ])
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start billing")
}

#[tokio::test]
async fn killed_between_charge_and_record_is_completed_after_restart() {
    let db = TestDb::new().await;
    let (kms, stripe) = tokio::join!(kms_sim(None), LocalStripe::start());
    let stripe = stripe.unwrap();
    let (tx, mut charged) = mpsc::unbounded_channel();
    let proxy = web::Data::new(Proxy {
        upstream: stripe.base_url(),
        http: reqwest::Client::new(),
        charged: tx,
    });
    let listener = free_listener();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(proxy.clone())
            .default_service(web::to(forward))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);

    let port = free_listener().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = start_billing(db.url(), kms.base_url(), &proxy_url, port);
    wait_until_up(&format!("{base}/ready"), Duration::from_secs(20))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = admin(reqwest::Method::POST, "/api/organizations", json!({
        "c_organization_id": "crash", "minimum_balance": 100, "target_balance": 500, "minimum_recharge_amount": 200,
    })).await.unwrap();
    assert_eq!(r.status(), 201);
    let r = admin(
        reqwest::Method::POST,
        "/api/organizations/crash/payment-method",
        json!({ "payment_method_id": "pm_card_visa" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = admin(
        reqwest::Method::POST,
        "/api/organizations/crash/sync",
        json!({}),
    )
    .await
    .unwrap();
    let synced: OrganizationAnswer = answer(r, 200).await;
    let team = synced.organization.litellm_team_id.unwrap();

    let body = support::Env::limit_body(&team, 520.0);
    let sig = sign_sha256(WEBHOOK_SECRET.as_bytes(), &body);
    let send = {
        let (http, url, body, sig) = (
            http.clone(),
            format!("{base}/webhooks/litellm/limit-exceeded"),
            body.clone(),
            sig.clone(),
        );
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .header("x-webhook-signature", sig)
                .header("x-webhook-id", "evt-crash")
                .body(body)
                .send()
                .await
        }
    };
    let in_flight = tokio::spawn(send);
    tokio::time::timeout(Duration::from_secs(20), charged.recv())
        .await
        .expect("the charge reached Stripe");
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(
        in_flight.await.unwrap().is_err(),
        "the killed process never answered"
    );

    // Money taken, nothing delivered, the record still pending.
    let http2 = reqwest::Client::new();
    let pis = support::stripe_payment_intents(&http2, &stripe.base_url()).await;
    assert_eq!(pis.iter().filter(|p| p["status"] == "succeeded").count(), 1);
    assert_eq!(kms.organization("crash").unwrap().quota_cents, 0);
    assert_eq!(
        support::count_rows(db.url(), "recharge_records WHERE status = 'pending'").await,
        1
    );

    // Restart (straight to Stripe): start-up reconcile completes the recharge.
    let mut second = start_billing(db.url(), kms.base_url(), &stripe.base_url(), port);
    wait_until_up(&format!("{base}/ready"), Duration::from_secs(20))
        .await
        .unwrap();
    let mut status = None;
    for _ in 0..100 {
        let r = admin(
            reqwest::Method::GET,
            "/api/organizations/crash/recharge-history",
            json!({}),
        )
        .await
        .unwrap();
        let history: PageOf<RechargeView> = answer(r, 200).await;
        status = history.items.first().map(|r| r.status);
        if status == Some(RechargeStatus::Succeeded) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Some(RechargeStatus::Succeeded));
    assert_eq!(kms.organization("crash").unwrap().quota_cents, 102_000);
    let pis = support::stripe_payment_intents(&http2, &stripe.base_url()).await;
    assert_eq!(pis.len(), 1, "no second charge");

    // The event, redelivered, now answers with the recharge.
    let r = http
        .post(format!("{base}/webhooks/litellm/limit-exceeded"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", &sig)
        .header("x-webhook-id", "evt-crash")
        .body(body)
        .send()
        .await
        .unwrap();
    let redelivered: EventAnswer = answer(r, 200).await;
    assert_eq!(redelivered.action, Some(EventAction::AutoRecharged));
    assert_eq!(
        support::stripe_payment_intents(&http2, &stripe.base_url())
            .await
            .len(),
        1
    );
    second.start_kill().unwrap();
    let _ = second.wait().await;
}
