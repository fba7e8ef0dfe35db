//! The testkit's simulator helpers start real, isolated simulators.

use serde_json::{json, Value};
use tollgate_testkit::{kms_sim, newapi_sim, NewapiBackend, NEWAPI_ADMIN_TOKEN};

async fn import_then_authenticate(backend: NewapiBackend) {
    let newapi = newapi_sim(backend).await;
    let client = reqwest::Client::new();
    let key = "a".repeat(24) + &"B".repeat(24);
    let res: Value = client
        .post(format!("{}/api/token/import", newapi.base_url()))
        .bearer_auth(NEWAPI_ADMIN_TOKEN)
        .json(&json!({"key": key, "external_user_id": "u1", "name": "default", "unlimited_quota": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["success"], true, "{res}");
    let models = client
        .get(format!("{}/v1/models", newapi.base_url()))
        .bearer_auth(format!("sk-{key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    // A second simulator shares nothing with the first.
    let other = newapi_sim(backend).await;
    let models = client
        .get(format!("{}/v1/models", other.base_url()))
        .bearer_auth(format!("sk-{key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
}

#[tokio::test]
async fn newapi_sim_on_mariadb() {
    import_then_authenticate(NewapiBackend::Mysql).await;
}

#[tokio::test]
async fn newapi_sim_on_postgres() {
    import_then_authenticate(NewapiBackend::Postgres).await;
}

#[tokio::test]
async fn kms_sim_answers_its_contract() {
    let kms = kms_sim(None).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/organizations/", kms.base_url()))
        .json(&json!({"c_organization_id": "org-1", "quota": 100}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["c_organization_id"], "org-1");
    assert!(created["l_team_id"].as_str().unwrap().starts_with("team_"));
    assert_eq!(kms.organization("org-1").unwrap().quota_cents, 10_000);
}
