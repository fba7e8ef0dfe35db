//! Shared test helpers: start the simulator, a webhook receiver, poll for conditions.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use kms_sim::{SimConfig, SimHandle};
use serde_json::Value;

pub const SECRET: &str = "whsec_test_secret";

fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A simulator without a webhook receiver.
pub async fn sim() -> SimHandle {
    sim_with(None).await
}

/// A simulator sending webhooks to `url`.
pub async fn sim_with(url: Option<String>) -> SimHandle {
    let config = SimConfig {
        webhook_url: url,
        webhook_secret: SECRET.to_owned(),
    };
    kms_sim::spawn(config, loopback())
        .await
        .expect("spawn kms-sim")
}

/// A plain client (no connection reuse, so a dropped connection never poisons the pool).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Send `method path` with an optional JSON text body; status and parsed JSON answer.
pub async fn call(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = client().request(method, format!("{}{path}", sim.base_url()));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Create organisation `id` with `quota` dollars (JSON number text).
pub async fn create(sim: &SimHandle, id: &str, quota: &str) -> Value {
    let body = format!(r#"{{"c_organization_id":"{id}","quota":{quota}}}"#);
    let (status, v) = call(sim, reqwest::Method::POST, "/organizations/", Some(&body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

/// Add `amount` dollars of usage; the answer.
pub async fn usage(sim: &SimHandle, id: &str, amount: &str) -> Value {
    let body = format!(r#"{{"amount":{amount}}}"#);
    let (status, v) = call(
        sim,
        reqwest::Method::POST,
        &format!("/organizations/{id}/usage"),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Set the quota; the answer.
pub async fn set_quota(sim: &SimHandle, id: &str, quota: &str) -> (u16, Value) {
    let body = format!(r#"{{"new_quota":{quota}}}"#);
    call(
        sim,
        reqwest::Method::PUT,
        &format!("/organizations/{id}/quota"),
        Some(&body),
    )
    .await
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub webhook_id: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct ReceiverState {
    captured: Mutex<Vec<Captured>>,
    /// Statuses to answer, in order; 200 once exhausted.
    script: Mutex<VecDeque<u16>>,
}

/// A tiny actix app on 127.0.0.1:0 capturing webhooks.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Start a receiver answering `script` statuses first, then 200.
    pub fn start(script: &[u16]) -> Self {
        let state = Arc::new(ReceiverState::default());
        state.script.lock().unwrap().extend(script.iter().copied());
        let listener = loopback();
        let url = format!(
            "http://{}/webhooks/litellm/limit-exceeded",
            listener.local_addr().unwrap()
        );
        let app_state = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .route("/webhooks/litellm/limit-exceeded", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            state,
            server: handle,
        }
    }

    /// What was received so far, oldest first.
    pub fn captured(&self) -> Vec<Captured> {
        self.state.captured.lock().unwrap().clone()
    }

    /// Wait until `n` requests arrived (or 10 s passed); them.
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        for _ in 0..500 {
            if self.captured().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.captured()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn receive(
    state: web::Data<ReceiverState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.captured.lock().unwrap().push(Captured {
        webhook_id: header("x-webhook-id"),
        signature: header("x-webhook-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(serde_json::json!({"success": status == 200, "action": "none"}))
}

/// Independent HMAC check of a captured request.
pub fn verify(secret: &str, captured: &Captured) -> bool {
    use hmac::{Hmac, Mac};
    let Some(sig) = captured
        .signature
        .as_deref()
        .and_then(|s| s.strip_prefix("sha256="))
    else {
        return false;
    };
    let Ok(sig) = hex::decode(sig) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&captured.body);
    mac.verify_slice(&sig).is_ok()
}
