//! Budget alerts as LiteLLM sends them: unsigned, once per (event, team) per 24 h after a
//! successful send, only from a request refused over budget.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use litellm_sim::{AlertState, Request, SimConfig, SimHandle};
use serde_json::{json, Value};

const MASTER: &str = "sk-master-test";

/// One request the receiver got: headers of interest and the body.
#[derive(Debug, Clone)]
struct Captured {
    content_type: Option<String>,
    user_agent: Option<String>,
    signature: Option<String>,
    body: String,
}

#[derive(Default)]
struct Inbox {
    captured: Mutex<Vec<Captured>>,
    status: Mutex<u16>,
}

struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        *inbox.status.lock().unwrap() = 200;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/webhooks/litellm/budget?token=t",
            listener.local_addr().unwrap()
        );
        let data = web::Data::from(Arc::clone(&inbox));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/webhooks/litellm/budget", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url,
            inbox,
            server: handle,
        }
    }

    fn answer(&self, status: u16) {
        *self.inbox.status.lock().unwrap() = status;
    }

    fn captured(&self) -> Vec<Captured> {
        self.inbox.captured.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn receive(inbox: web::Data<Inbox>, req: HttpRequest, body: String) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    inbox.captured.lock().unwrap().push(Captured {
        content_type: header("content-type"),
        user_agent: header("user-agent"),
        signature: header("x-webhook-signature"),
        body,
    });
    let status = *inbox.status.lock().unwrap();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

async fn sim_to(url: &str) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    litellm_sim::spawn(SimConfig::new(MASTER, Some(url.to_owned())), listener)
        .await
        .unwrap()
}

async fn team(sim: &SimHandle, id: &str, max_budget: f64) {
    let response = reqwest::Client::new()
        .post(format!("{}/team/new", sim.base_url()))
        .bearer_auth(MASTER)
        .json(&json!({ "team_id": id, "team_alias": "Acme", "max_budget": max_budget, "budget_duration": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn rejected(request: Request) -> Option<u64> {
    match request {
        Request::Rejected { alert, .. } => alert,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn the_first_refused_request_sends_one_unsigned_alert() {
    let receiver = Receiver::start();
    let sim = sim_to(&receiver.url).await;
    team(&sim, "org-7", 1.0).await;
    assert!(matches!(sim.request("org-7", 1.5), Request::Served(_)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        receiver.captured().is_empty(),
        "the request that crossed sends nothing"
    );

    assert!(rejected(sim.request("org-7", 0.1)).is_some());
    let alerts = sim.wait_for_alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts[0].state, AlertState::Delivered, "{alerts:?}");
    let got = receiver.captured();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(got[0].user_agent.as_deref(), Some("litellm/1.110.2"));
    assert_eq!(got[0].signature, None, "LiteLLM cannot sign");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    let order = [
        "spend",
        "max_budget",
        "soft_budget",
        "token",
        "customer_id",
        "user_id",
        "team_id",
        "team_alias",
        "organization_id",
        "user_email",
        "key_alias",
        "projected_exceeded_date",
        "projected_spend",
        "event_group",
        "alert_emails",
        "max_budget_alert_emails",
        "event",
        "event_message",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| got[0].body.find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "WebhookEvent's fields in LiteLLM's order: {}",
        got[0].body
    );
    assert_eq!(body.as_object().unwrap().len(), order.len());
    assert_eq!(body["spend"], json!(1.5));
    assert_eq!(body["max_budget"], json!(1.0));
    assert_eq!(body["team_id"], "org-7");
    assert_eq!(body["team_alias"], "Acme");
    assert_eq!(body["event_group"], "team");
    assert_eq!(body["event"], "budget_crossed");
    assert_eq!(
        body["event_message"],
        "Team Budget: Budget Crossed\n Total Budget:`1.0`"
    );
    assert_eq!(
        body["token"].as_str().unwrap().len(),
        64,
        "sha256 of the key, hex"
    );
    assert!(
        got[0].body.starts_with(r#"{"spend":1.5,"max_budget":1.0,"#),
        "compact JSON"
    );

    assert_eq!(rejected(sim.request("org-7", 0.1)), None, "silent for 24 h");
    sim.clear_silences();
    assert!(
        rejected(sim.request("org-7", 0.1)).is_some(),
        "and again after"
    );
    sim.wait_for_alerts(2, Duration::from_secs(10)).await;
    assert_eq!(receiver.captured().len(), 2);
}

#[tokio::test]
async fn a_failed_send_is_not_retried_but_does_not_silence() {
    let receiver = Receiver::start();
    receiver.answer(500);
    let sim = sim_to(&receiver.url).await;
    team(&sim, "f", 0.0).await;
    assert!(matches!(sim.request("f", 0.01), Request::Served(_)));
    assert!(rejected(sim.request("f", 0.01)).is_some());
    let alerts = sim.wait_for_alerts(1, Duration::from_secs(10)).await;
    assert_eq!(
        (alerts[0].state, alerts[0].status, alerts[0].attempts),
        (AlertState::Failed, Some(500), 1)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        receiver.captured().len(),
        1,
        "a non-2xx answer is not retried"
    );

    receiver.answer(200);
    assert!(
        rejected(sim.request("f", 0.01)).is_some(),
        "not silenced after a failure"
    );
    let alerts = sim.wait_for_alerts(2, Duration::from_secs(10)).await;
    assert_eq!(alerts[0].state, AlertState::Delivered);
    assert_eq!(rejected(sim.request("f", 0.01)), None);
}

#[tokio::test]
async fn no_url_sends_nothing_and_a_forced_alert_ignores_the_silence() {
    let receiver = Receiver::start();
    let sim = sim_to(&receiver.url).await;
    team(&sim, "q", 0.0).await;
    sim.request("q", 1.0);
    assert!(rejected(sim.request("q", 1.0)).is_some());
    sim.wait_for_alerts(1, Duration::from_secs(10)).await;
    let forced = reqwest::Client::new()
        .post(format!("{}/_sim/teams/q/alert", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 202);
    sim.wait_for_alerts(2, Duration::from_secs(10)).await;
    assert_eq!(receiver.captured().len(), 2);

    sim.set_webhook_url(None);
    sim.clear_silences();
    assert_eq!(
        rejected(sim.request("q", 1.0)),
        None,
        "no WEBHOOK_URL: nothing sent"
    );
    let listed: Value = reqwest::get(format!("{}/_sim/alerts", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["alerts"].as_array().unwrap().len(), 2);
}
