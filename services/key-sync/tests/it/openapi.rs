//! `GET /openapi.json`: the document describes every route `routes.rs` registers, is the
//! one served and the one committed. (Answers are checked against it by schemathesis in
//! `scripts/smoke/80-fuzz.sh`.)

use crate::support;

use serde_json::{json, Value};
use support::*;

#[test]
fn every_route_is_described_and_every_description_served() {
    let doc = serde_json::to_value(key_sync::api_doc::document()).unwrap();
    tollgate_testkit::openapi::assert_routes_described(include_str!("../../src/routes.rs"), &doc);
}

#[tokio::test]
async fn the_running_service_serves_its_document() {
    let env = spawn().await;
    let res = env
        .app
        .client
        .get(env.app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let served: Value = res.json().await.unwrap();
    assert_eq!(
        served,
        serde_json::to_value(key_sync::api_doc::document()).unwrap()
    );
    let create = &served["paths"]["/v1/keys"]["post"];
    assert_eq!(create["security"], json!([{"supabase_jwt": []}]));
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NameRequest"
    );
    for status in ["201", "400", "401", "409", "413"] {
        assert!(create["responses"][status].is_object(), "{status}");
    }
    let schemes = served["components"]["securitySchemes"].as_object().unwrap();
    let mut names: Vec<_> = schemes.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "admin_token",
            "internal_token",
            "supabase_jwt",
            "webhook_secret"
        ]
    );
}

#[test]
fn the_committed_document_is_current() {
    tollgate_testkit::openapi::assert_committed_current(
        "key-sync",
        include_str!("../../../../docs/openapi/key-sync.json"),
        &key_sync::api_doc::document().to_pretty_json().unwrap(),
    );
}
