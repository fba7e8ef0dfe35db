//! Fault injection through `/_sim/faults` and the in-process handle.

use crate::common;

use std::time::{Duration, Instant};

use common::{client, import_body, random_key, start, ADMIN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sim_faults::{FaultMode, FaultRule};
use tollgate_newapi_schema::Backend;

async fn error_and_success_false_faults(backend: Backend) {
    let env = start(backend).await;
    let rule =
        json!({"mode": "error", "status": 503, "path_prefix": "/api/token/import", "count": 1});
    let response = env
        .client
        .post(env.url("/_sim/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let key = random_key();
    let (status, body) = env.import_json(&import_body(&key, "u")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        env.sim.stats().import_calls,
        0,
        "faulted requests never reach the handler"
    );
    assert!(env.tokens_with_key(&key).await.is_empty());

    env.sim.faults().push(
        FaultRule::new(FaultMode::SuccessFalse)
            .path("/api/token/import")
            .times(1),
    );
    let (status, body) = env.import_json(&import_body(&key, "u")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], false, "{body}");
    assert!(env.tokens_with_key(&key).await.is_empty());

    // Both rules are used up: the next import goes through.
    let id = env.import_ok(&key, "u").await;
    assert!(id > 0);
    assert_eq!(env.sim.stats().import_calls, 1);
}

async fn delay_beyond_client_timeout_still_completes(backend: Backend) {
    let env = start(backend).await;
    env.sim.faults().push(
        FaultRule::new(FaultMode::Delay)
            .delay(Duration::from_millis(700))
            .path("/api/token/import")
            .times(1),
    );
    let key = random_key();
    let impatient = client(Duration::from_millis(200));
    let started = Instant::now();
    let error = impatient
        .post(env.url("/api/token/import"))
        .bearer_auth(ADMIN)
        .json(&import_body(&key, "slow-user"))
        .send()
        .await
        .expect_err("the client must time out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(650));

    // The server finishes the request after the delay although the client left.
    let deadline = Instant::now() + Duration::from_secs(5);
    while env.sim.stats().tokens_created == 0 {
        assert!(
            Instant::now() < deadline,
            "the delayed import never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(env.tokens_with_key(&key).await.len(), 1);
    // A retry by the client is answered idempotently.
    let id = env.import_ok(&key, "slow-user").await;
    assert_eq!(env.tokens_with_key(&key).await[0].id, id);
}

async fn drop_gives_a_connection_error(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    env.import_ok(&key, "u").await; // warm a keep-alive connection
    env.sim
        .faults()
        .push(FaultRule::new(FaultMode::Drop).path("/v1/models").times(1));
    let error = env
        .client
        .get(env.url("/v1/models"))
        .bearer_auth(format!("sk-{key}"))
        .send()
        .await
        .expect_err("the connection must be cut");
    assert!(error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    let (status, _) = env.models(&format!("Bearer sk-{key}")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn counted_rules_expire(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    env.import_ok(&key, "u").await;
    env.sim
        .faults()
        .push(FaultRule::new(FaultMode::Error).path("/v1/").times(2));
    let auth = format!("Bearer sk-{key}");
    assert_eq!(env.models(&auth).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(env.models(&auth).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(env.models(&auth).await.0, StatusCode::OK);
    assert!(env.sim.faults().list().is_empty());
}

async fn fault_control_routes(backend: Backend) {
    let env = start(backend).await;
    let url = env.url("/_sim/faults");
    let listed: Value = env
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!({"faults": []}));

    let rule = json!({"mode": "delay", "delay_ms": 10, "path_prefix": "/v1/"});
    let added: Value = env
        .client
        .post(&url)
        .json(&rule)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["faults"][0]["mode"], "delay");
    let listed: Value = env
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["faults"].as_array().unwrap().len(), 1);
    assert_eq!(env.sim.faults().list().len(), 1);

    for bad in [
        json!({"mode": "explode"}),
        json!({"mode": "error", "status": 42}),
        json!({"mode": "error", "count": 0}),
        json!({"status": 500}),
    ] {
        let response = env.client.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let response = env.client.post(&url).body("not json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Control and stats paths are never faulted, even by a catch-all rule.
    env.sim.faults().push(FaultRule::new(FaultMode::Error));
    let stats = env.client.get(env.url("/_sim/stats")).send().await.unwrap();
    assert_eq!(stats.status(), StatusCode::OK);

    let cleared: Value = env
        .client
        .delete(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared, json!({"faults": []}));
    assert!(env.sim.faults().list().is_empty());
}

on_both_backends!(
    error_and_success_false_faults,
    delay_beyond_client_timeout_still_completes,
    drop_gives_a_connection_error,
    counted_rules_expire,
    fault_control_routes,
);
