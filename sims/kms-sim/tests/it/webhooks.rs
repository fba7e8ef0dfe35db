//! The signed limit webhook: crossing, no resend while over, re-arming, retries.

use crate::common;

use std::time::Duration;

use common::{call, create, set_quota, sim_with, usage, verify, Receiver, SECRET};
use kms_sim::DeliveryState;
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn crossing_the_quota_sends_one_signed_webhook() {
    let receiver = Receiver::start(&[]);
    let sim = sim_with(Some(receiver.url.clone())).await;
    let created = create(&sim, "org_w", "100").await;
    let team = created["l_team_id"].as_str().unwrap();

    let v = usage(&sim, "org_w", "100").await;
    assert_eq!(
        v["webhook_sent"],
        json!(false),
        "usage == quota is not over"
    );
    let v = usage(&sim, "org_w", "2.5").await;
    assert_eq!(v["webhook_sent"], json!(true), "{v}");
    assert_eq!(v["usage"], json!(102.5));

    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let hook = &got[0];
    assert!(
        verify(SECRET, hook),
        "signature must verify over the raw body"
    );
    assert!(!verify("other secret", hook));
    let sig = hook.signature.as_deref().unwrap();
    assert!(sig
        .strip_prefix("sha256=")
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    assert_eq!(hook.content_type.as_deref(), Some("application/json"));
    let id = hook.webhook_id.clone().unwrap();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body["event_type"], "limit_exceeded");
    assert_eq!(body["team_id"], team);
    assert_eq!(body["organization_id"], "org_w");
    assert_eq!(body["current_usage"], json!(102.5));
    assert_eq!(body["current_limit"], json!(100));
    assert_eq!(body["exceeded_by"], json!(2.5));
    let ts = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(ts.offset().local_minus_utc(), 0);
    assert!((chrono::Utc::now() - ts.to_utc()).num_seconds().abs() < 60);

    let deliveries = sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert_eq!(
        (d.id.as_str(), d.organization_id.as_str()),
        (id.as_str(), "org_w")
    );
    assert_eq!(
        (d.state, d.attempts, d.status),
        (DeliveryState::Delivered, 1, Some(200))
    );
    assert_eq!(d.body.as_bytes(), hook.body.as_slice());
    assert!(!d.forced);

    // Further usage while over does not resend.
    let v = usage(&sim, "org_w", "5").await;
    assert_eq!(v["webhook_sent"], json!(false));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.captured().len(), 1);
    assert_eq!(sim.deliveries().len(), 1);
}

#[tokio::test]
async fn raising_the_quota_rearms_the_webhook() {
    let receiver = Receiver::start(&[]);
    let sim = sim_with(Some(receiver.url.clone())).await;
    create(&sim, "org_r", "10").await;
    assert_eq!(
        usage(&sim, "org_r", "11").await["webhook_sent"],
        json!(true)
    );
    receiver.wait_for(1).await;

    let (status, _) = set_quota(&sim, "org_r", "20").await;
    assert_eq!(status, 200);
    assert_eq!(
        usage(&sim, "org_r", "5").await["webhook_sent"],
        json!(false)
    );
    assert_eq!(usage(&sim, "org_r", "5").await["webhook_sent"], json!(true));

    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_ne!(
        got[0].webhook_id, got[1].webhook_id,
        "a new crossing has a new id"
    );
    let second: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(second["current_usage"], json!(21));
    assert_eq!(second["current_limit"], json!(20));
    assert_eq!(second["exceeded_by"], json!(1));
    assert!(got.iter().all(|c| verify(SECRET, c)));

    let deliveries = sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(
        deliveries[0].id,
        got[1].webhook_id.clone().unwrap(),
        "newest first"
    );
    let (status, v) = call(&sim, Method::GET, "/_sim/webhooks", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(v["deliveries"][0]["id"], json!(deliveries[0].id));
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_id() {
    let receiver = Receiver::start(&[500, 500]);
    let sim = sim_with(Some(receiver.url.clone())).await;
    create(&sim, "org_x", "1").await;
    usage(&sim, "org_x", "2").await;

    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|c| c.webhook_id == got[0].webhook_id),
        "same id on every attempt"
    );
    assert!(got
        .iter()
        .all(|c| c.body == got[0].body && verify(SECRET, c)));

    let deliveries = sim.wait_for_deliveries(1, WAIT).await;
    let d = &deliveries[0];
    assert_eq!(
        (d.state, d.attempts, d.status),
        (DeliveryState::Delivered, 3, Some(200))
    );
    assert!(d.response_body.as_deref().unwrap().contains("success"));
}

#[tokio::test]
async fn attempts_stop_after_three() {
    let receiver = Receiver::start(&[503, 503, 503, 503]);
    let sim = sim_with(Some(receiver.url.clone())).await;
    create(&sim, "org_f", "1").await;
    usage(&sim, "org_f", "2").await;
    let deliveries = sim.wait_for_deliveries(1, WAIT).await;
    let d = &deliveries[0];
    assert_eq!(
        (d.state, d.attempts, d.status),
        (DeliveryState::Failed, 3, Some(503))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.captured().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let receiver = Receiver::start(&[401]);
    let sim = sim_with(Some(receiver.url.clone())).await;
    create(&sim, "org_4", "1").await;
    usage(&sim, "org_4", "2").await;
    let d = &sim.wait_for_deliveries(1, WAIT).await[0];
    assert_eq!(
        (d.state, d.attempts, d.status),
        (DeliveryState::Failed, 1, Some(401))
    );
}

#[tokio::test]
async fn transport_errors_are_retried_and_recorded() {
    // A port bound but not listening: connections are refused, and no other test can
    // take the port while `dead` holds it (a closed one could be handed out again).
    let dead = tokio::net::TcpSocket::new_v4().unwrap();
    dead.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let sim = sim_with(Some(format!("http://{}/hook", dead.local_addr().unwrap()))).await;
    create(&sim, "org_t", "1").await;
    assert_eq!(usage(&sim, "org_t", "2").await["webhook_sent"], json!(true));
    let d = &sim.wait_for_deliveries(1, WAIT).await[0];
    assert_eq!(
        (d.state, d.attempts, d.status),
        (DeliveryState::Failed, 3, None)
    );
    assert!(d.error.as_deref().is_some_and(|e| !e.is_empty()));
}

#[tokio::test]
async fn no_url_means_no_webhook_until_one_is_set() {
    let receiver = Receiver::start(&[]);
    let sim = sim_with(None).await;
    create(&sim, "org_n", "1").await;
    assert_eq!(
        usage(&sim, "org_n", "2").await["webhook_sent"],
        json!(false)
    );
    let (status, _) = call(
        &sim,
        Method::POST,
        "/_sim/organizations/org_n/limit-exceeded",
        None,
    )
    .await;
    assert_eq!(status, 409);

    sim.set_webhook_url(Some(receiver.url.clone()));
    assert_eq!(sim.webhook_url(), Some(receiver.url.clone()));
    set_quota(&sim, "org_n", "5").await;
    assert_eq!(usage(&sim, "org_n", "4").await["webhook_sent"], json!(true));
    assert_eq!(receiver.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn forced_webhook_returns_the_delivery_id() {
    let receiver = Receiver::start(&[]);
    let sim = sim_with(Some(receiver.url.clone())).await;
    create(&sim, "org_m", "50").await;
    let (status, v) = call(
        &sim,
        Method::POST,
        "/_sim/organizations/org_m/limit-exceeded",
        None,
    )
    .await;
    assert_eq!(status, 202, "{v}");
    let id = v["delivery_id"].as_str().unwrap().to_owned();
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].webhook_id.as_deref(), Some(id.as_str()));
    assert!(verify(SECRET, &got[0]));
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        (body["current_limit"].clone(), body["exceeded_by"].clone()),
        (json!(50), json!(0))
    );

    let d = &sim.wait_for_deliveries(1, WAIT).await[0];
    assert!(d.forced && d.id == id);

    let lib_id = sim.force_limit_exceeded("org_m").unwrap();
    assert_eq!(
        receiver.wait_for(2).await[1].webhook_id.as_deref(),
        Some(lib_id.as_str())
    );
    assert!(sim.force_limit_exceeded("ghost").is_err());
    let (status, _) = call(
        &sim,
        Method::POST,
        "/_sim/organizations/ghost/limit-exceeded",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn usage_call_does_not_wait_for_a_slow_receiver() {
    // The receiver never answers within the test: a listener that accepts nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let sim = sim_with(Some(url)).await;
    create(&sim, "org_s", "1").await;
    let started = std::time::Instant::now();
    assert_eq!(usage(&sim, "org_s", "2").await["webhook_sent"], json!(true));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.deliveries()[0].state, DeliveryState::Pending);
}
