//! Every fault mode on the KMS routes; the control plane is never faulted.

use crate::common;

use std::time::Duration;

use common::{call, client, create, sim};
use reqwest::Method;
use serde_json::json;
use sim_faults::{FaultMode, FaultRule};

#[tokio::test]
async fn error_status() {
    let sim = sim().await;
    create(&sim, "e", "1").await;
    sim.faults().push(
        FaultRule::new(FaultMode::Error)
            .status(503)
            .path("/organizations/"),
    );
    let (status, v) = call(&sim, Method::GET, "/organizations/e", None).await;
    assert_eq!(status, 503);
    assert!(v["detail"].is_string());
    let (status, _) = call(&sim, Method::GET, "/health", None).await;
    assert_eq!(status, 200, "other paths unaffected");
    assert_eq!(sim.stats().get, 1, "faulted calls are still counted");
}

#[tokio::test]
async fn success_false_with_200() {
    let sim = sim().await;
    sim.faults().push(FaultRule::new(FaultMode::SuccessFalse));
    let (status, v) = call(&sim, Method::GET, "/health", None).await;
    assert_eq!((status, v["success"].clone()), (200, json!(false)));
    let (status, _) = call(&sim, Method::GET, "/_sim/state", None).await;
    assert_eq!(status, 200, "control routes are never faulted");
}

#[tokio::test]
async fn delay_beyond_client_timeout() {
    let sim = sim().await;
    sim.faults().push(
        FaultRule::new(FaultMode::Delay)
            .delay(Duration::from_millis(800))
            .times(1),
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = impatient
        .get(format!("{}/health", sim.base_url()))
        .send()
        .await
        .expect_err("must time out");
    assert!(err.is_timeout(), "{err:?}");
    let (status, _) = call(&sim, Method::GET, "/health", None).await;
    assert_eq!(status, 200, "rule was used up");
}

#[tokio::test]
async fn drop_closes_the_connection() {
    let sim = sim().await;
    sim.faults().push(
        FaultRule::new(FaultMode::Drop)
            .path("/organizations")
            .times(1),
    );
    let result = client()
        .post(format!("{}/organizations/", sim.base_url()))
        .json(&json!({"c_organization_id": "d", "quota": 1}))
        .send()
        .await;
    let err = result.expect_err("no response on a dropped connection");
    assert!(err.status().is_none(), "{err:?}");
    assert!(
        sim.organization("d").is_none(),
        "the request never reached the handler"
    );
    assert_eq!(sim.stats().create, 1);
}

#[tokio::test]
async fn counted_rule_expires_via_control_route() {
    let sim = sim().await;
    let rule = json!({"mode": "error", "status": 500, "path_prefix": "/health", "count": 2});
    let (status, _) = call(&sim, Method::POST, "/_sim/faults", Some(&rule.to_string())).await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        assert_eq!(call(&sim, Method::GET, "/health", None).await.0, 500);
    }
    assert_eq!(call(&sim, Method::GET, "/health", None).await.0, 200);
    let (_, v) = call(&sim, Method::GET, "/_sim/faults", None).await;
    assert_eq!(v["faults"], json!([]));
    assert_eq!(sim.stats().health, 3);

    sim.faults().push(FaultRule::new(FaultMode::Error));
    assert_eq!(call(&sim, Method::GET, "/health", None).await.0, 500);
    call(&sim, Method::DELETE, "/_sim/faults", None).await;
    assert_eq!(call(&sim, Method::GET, "/health", None).await.0, 200);
}
