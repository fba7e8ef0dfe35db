//! `GET /internal/users/{user_id}/keys`: what other services may know of a user's keys, only
//! with the internal token.

use crate::support;

use serde_json::json;
use support::*;
use tollgate_domain::user_keys::{KeyStatus, UserKeys};
use tollgate_testkit::{error_code, TestApp};

async fn internal_get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn lists_every_key_of_the_user_without_key_material() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&env.app, &signup(&user)).await;
    let res = env
        .app
        .client
        .post(env.app.url("/v1/keys"))
        .bearer_auth(user_token(&user))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let owned = owned_keys(&env.app, &user).await;
    let other = uuid::Uuid::new_v4().to_string();
    post_signup(&env.app, &signup(&other)).await;

    let res = internal_get(
        &env.app,
        &format!("/internal/users/{user}/keys"),
        Some(INTERNAL_TOKEN),
    )
    .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for k in &owned {
        let full = k.key.as_deref().unwrap();
        assert!(!text.contains(full), "no key material");
        assert!(!text.contains(&full[3..]), "no key material");
    }
    let keys: UserKeys = serde_json::from_str(&text).unwrap();
    assert_eq!(keys.user_id.to_string(), user);
    let names: Vec<&str> = keys.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["default", "ci"]);
    for (k, o) in keys.keys.iter().zip(&owned) {
        assert_eq!(k.key_id, o.id);
        assert_eq!(k.key_hint, o.hint);
        assert_eq!(k.newapi_token_id, o.sync.newapi_token_id);
        assert!(k.newapi_token_id.is_some(), "synced to the gateway");
        assert_eq!(k.status, KeyStatus::Active);
    }
    // A user with no keys has an empty list.
    let nobody = uuid::Uuid::new_v4();
    let res = internal_get(
        &env.app,
        &format!("/internal/users/{nobody}/keys"),
        Some(INTERNAL_TOKEN),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<UserKeys>().await.unwrap().keys, vec![]);
}

#[tokio::test]
async fn needs_the_internal_token_and_a_uuid() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&env.app, &signup(&user)).await;
    let path = format!("/internal/users/{user}/keys");
    for token in [
        None,
        Some("wrong"),
        Some(WEBHOOK_SECRET),
        Some(&user_token(&user) as &str),
    ] {
        let res = internal_get(&env.app, &path, token).await;
        assert_eq!(error_code(res, 401).await, "unauthorized", "{token:?}");
    }
    let admin = internal_get(&env.app, &path, Some(tollgate_testkit::ADMIN_TOKEN)).await;
    assert_eq!(
        error_code(admin, 401).await,
        "unauthorized",
        "the admin token is not the internal one"
    );
    let res = internal_get(
        &env.app,
        "/internal/users/not-a-uuid/keys",
        Some(INTERNAL_TOKEN),
    )
    .await;
    assert_eq!(error_code(res, 400).await, "invalid_user_id");
}

#[tokio::test]
async fn is_closed_without_a_configured_token() {
    let newapi = tollgate_testkit::newapi_sim(tollgate_testkit::NewapiBackend::Postgres).await;
    let base = newapi.base_url();
    let app = TestApp::spawn(|db| async move {
        let mut s = settings(&db, &base);
        s.key_sync.internal_token = None;
        key_sync::startup::build(s).await
    })
    .await
    .unwrap();
    let user = uuid::Uuid::new_v4();
    for token in [None, Some(""), Some(INTERNAL_TOKEN)] {
        let res = internal_get(&app, &format!("/internal/users/{user}/keys"), token).await;
        assert_eq!(res.status(), 503, "{token:?}");
    }
}
