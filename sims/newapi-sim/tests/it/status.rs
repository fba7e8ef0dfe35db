//! `/health` for orchestrators and new-api's `/api/status`, never faulted by path rules
//! aimed elsewhere.

use crate::common;

use common::start;
use reqwest::StatusCode;
use serde_json::Value;
use tollgate_newapi_schema::Backend;

async fn health_and_status_answer(backend: Backend) {
    let env = start(backend).await;
    let res = env.client.get(env.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    let res = env.client.get(env.url("/api/status")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["success"], true);
}

on_both_backends!(health_and_status_answer);
