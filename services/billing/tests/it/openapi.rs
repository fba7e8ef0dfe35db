//! `GET /openapi.json`: the document describes every route `routes.rs` registers.

use crate::support;

use serde_json::{json, Value};
use support::spawn;

#[test]
fn every_route_is_described_and_every_description_served() {
    let doc = serde_json::to_value(billing::api_doc::document()).unwrap();
    tollgate_testkit::openapi::assert_routes_described(include_str!("../../src/routes.rs"), &doc);
}

#[tokio::test]
async fn the_running_service_serves_its_document() {
    let env = spawn().await;
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
        serde_json::to_value(billing::api_doc::document()).unwrap()
    );
    let recharge = &served["paths"]["/api/organizations/{id}/recharge"]["post"];
    assert_eq!(
        recharge["security"],
        json!([{"admin_token": []}, {"supabase_jwt": []}])
    );
    for status in [
        "201", "202", "400", "401", "402", "403", "404", "409", "503",
    ] {
        assert!(recharge["responses"][status].is_object(), "{status}");
    }
    assert_eq!(
        served["components"]["schemas"]["Cents"]["type"], "number",
        "money is dollars in the API"
    );
    assert_eq!(
        served["components"]["schemas"]["RechargeInput"]["additionalProperties"],
        false
    );
}

#[test]
fn the_committed_document_is_current() {
    tollgate_testkit::openapi::assert_committed_current(
        "billing",
        include_str!("../../../../docs/openapi/billing.json"),
        &billing::api_doc::document().to_pretty_json().unwrap(),
    );
}

#[test]
fn stored_statuses_are_documented_as_they_are_sent() {
    use billing::store::events::{EventSource, EventStatus};
    use billing::store::members::MemberRole;
    use billing::store::recharges::{RechargeStatus, TriggeredBy};
    let doc = serde_json::to_value(billing::api_doc::document()).unwrap();
    let documented = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
    let sent = |all: Vec<Value>| Value::Array(all);
    let texts = |v: Vec<String>| sent(v.into_iter().map(Value::String).collect());
    assert_eq!(
        documented("RechargeStatus"),
        texts(RechargeStatus::ALL.iter().map(|s| s.to_string()).collect())
    );
    assert_eq!(
        documented("TriggeredBy"),
        texts(TriggeredBy::ALL.iter().map(|s| s.to_string()).collect())
    );
    assert_eq!(
        documented("EventSource"),
        texts(EventSource::ALL.iter().map(|s| s.to_string()).collect())
    );
    assert_eq!(
        documented("EventStatus"),
        texts(EventStatus::ALL.iter().map(|s| s.to_string()).collect())
    );
    assert_eq!(
        documented("MemberRole"),
        texts(MemberRole::ALL.iter().map(|s| s.to_string()).collect())
    );
    assert_eq!(
        serde_json::to_value(RechargeStatus::ALL[0]).unwrap(),
        documented("RechargeStatus")[0]
    );
}
