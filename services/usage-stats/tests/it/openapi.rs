//! `GET /openapi.json`: the document describes every route `routes.rs` registers.

use crate::support;

use serde_json::Value;
use support::*;
use tollgate_newapi_schema::Backend;

#[test]
fn every_route_is_described_and_every_description_served() {
    let doc = serde_json::to_value(usage_stats::api_doc::document()).unwrap();
    tollgate_testkit::openapi::assert_routes_described(include_str!("../../src/routes.rs"), &doc);
}

#[tokio::test]
async fn the_running_service_serves_its_document() {
    let env = spawn(Backend::Postgres).await;
    let served: Value = env
        .app
        .client
        .get(env.app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served,
        serde_json::to_value(usage_stats::api_doc::document()).unwrap()
    );
    let logs = &served["paths"]["/api/usage/user/logs"]["get"];
    assert_eq!(logs["security"], serde_json::json!([{"supabase_jwt": []}]));
    let params: Vec<&str> = logs["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        ["start", "end", "tz", "page", "page_size", "model", "key_id"]
    );
    let csv = &served["paths"]["/api/usage/token/logs.csv"]["get"]["responses"]["200"];
    assert!(csv["content"]["text/csv"].is_object(), "{csv}");
}

#[test]
fn the_committed_document_is_current() {
    tollgate_testkit::openapi::assert_committed_current(
        "usage-stats",
        include_str!("../../../../docs/openapi/usage-stats.json"),
        &usage_stats::api_doc::document().to_pretty_json().unwrap(),
    );
}
