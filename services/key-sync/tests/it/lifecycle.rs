//! Renaming, revoking and rotating keys, a deleted Supabase user, revocations that cannot
//! reach new-api, and new-api's Redis token cache; database mode on both backends, import
//! mode against the simulator's import API.

use crate::support;

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use key_sync::handlers::views::{DeletionAnswer, KeyStatus, OwnerKey, SyncState};
use serde_json::{json, Value};
use support::*;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{with_conn, NewapiConn};
use tollgate_testkit::{
    answer, error, error_code, newapi_db, newapi_sim, newapi_sim_with, NewapiBackend, NewapiSim,
    TestApp, ADMIN_TOKEN,
};

on_both_backends!(
    rename_rotate_and_revoke,
    a_deleted_user_loses_every_key,
    a_revocation_that_cannot_land_is_retried,
);

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(bearer);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// [`call`], answered with `status` and a key.
async fn key_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
    status: u16,
) -> OwnerKey {
    answer(call(app, method, path, bearer, body).await, status).await
}

async fn token_status_of(newapi: &NewapiSim, id: i64) -> Option<i64> {
    let mut conn = NewapiConn::establish(newapi.db.url()).await.unwrap();
    with_conn!(&mut conn, |c| {
        tokens::table.find(id).select(tokens::status).first(c).await
    })
    .unwrap()
}

async fn token_name_of(newapi: &NewapiSim, id: i64) -> Option<String> {
    let mut conn = NewapiConn::establish(newapi.db.url()).await.unwrap();
    with_conn!(&mut conn, |c| {
        tokens::table.find(id).select(tokens::name).first(c).await
    })
    .unwrap()
}

/// Wait until `GET /v1/models` with `key` answers `status`.
async fn wait_gateway(newapi: &NewapiSim, key: &str, status: u16, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = gateway_status(newapi, key).await;
        if now == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gateway answers {now}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rename_rotate_and_revoke(backend: NewapiBackend) {
    let env = spawn_database(backend).await;
    lifecycle(&env.app, &env.newapi).await;
}

#[tokio::test]
async fn rename_rotate_and_revoke_in_import_mode() {
    let env = spawn().await;
    lifecycle(&env.app, &env.newapi).await;
}

async fn lifecycle(app: &TestApp, newapi: &NewapiSim) {
    let user = uuid::Uuid::new_v4().to_string();
    let me = user_token(&user);
    post_signup(app, &signup(&user)).await;
    let first = owned_keys(app, &user).await.remove(0);
    let id = first.id;
    let k1 = first.key.unwrap();
    let token1 = first.sync.newapi_token_id.unwrap();
    assert_eq!(gateway_status(newapi, &k1).await, 200);

    // Rename: here and in new-api.
    let renamed = key_call(
        app,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &me,
        Some(json!({"name": "  laptop  "})),
        200,
    )
    .await;
    assert_eq!(renamed.name, "laptop");
    assert_eq!(renamed.sync.state, SyncState::Synced);
    assert_eq!(
        token_name_of(newapi, token1).await.as_deref(),
        Some("laptop")
    );

    // Rotate: a new key under the same name, the old one revoked.
    let rotated = key_call(
        app,
        reqwest::Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &me,
        None,
        201,
    )
    .await;
    let k2 = rotated.key.clone().unwrap();
    let id2 = rotated.id;
    assert!(k2.starts_with("sk-") && k2 != k1);
    assert_eq!(rotated.name, "laptop");
    assert!(rotated.default);
    let replaced = rotated.replaces.as_ref().unwrap();
    assert_eq!(replaced.id, id);
    assert_eq!(replaced.status, KeyStatus::Revoked);
    assert_eq!(gateway_status(newapi, &k2).await, 200);
    assert_eq!(gateway_status(newapi, &k1).await, 401);
    assert_eq!(token_status_of(newapi, token1).await, Some(2));
    let keys = owned_keys(app, &user).await;
    assert_eq!(keys.len(), 2);
    let old = keys.iter().find(|k| k.id == id).unwrap();
    assert_eq!(old.status, KeyStatus::Revoked);
    assert_eq!(old.key, None, "a revoked key is not shown in full");
    assert_eq!(old.replaced_by, Some(id2));
    assert!(!old.default);

    // Revoke, twice.
    let revoked = key_call(
        app,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{id2}"),
        &me,
        None,
        200,
    )
    .await;
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert_eq!(revoked.sync.state, SyncState::Synced);
    assert!(revoked.takes_effect.is_some());
    assert_eq!(gateway_status(newapi, &k2).await, 401);
    let again = key_call(
        app,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{id2}"),
        &me,
        None,
        200,
    )
    .await;
    assert!(revoked.revoked_at.is_some());
    assert_eq!(again.revoked_at, revoked.revoked_at, "a no-op");

    // A revoked key is neither renamed nor rotated.
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            format!("/v1/keys/{id2}"),
            Some(json!({"name": "x"})),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/keys/{id2}/rotate"),
            None,
        ),
    ] {
        let res = call(app, method, &path, &me, body).await;
        assert_eq!(error_code(res, 409).await, "key_revoked");
    }

    // Without an active default key the user can still create another.
    let created = key_call(
        app,
        reqwest::Method::POST,
        "/v1/keys",
        &me,
        Some(json!({"name": "fresh"})),
        201,
    )
    .await;
    let created_key = created.key.clone().unwrap();
    assert_eq!(gateway_status(newapi, &created_key).await, 200);

    // Another user's key, unknown ids, bad ids, bad names, no token.
    let fresh = created.id;
    let stranger = user_token(&uuid::Uuid::new_v4().to_string());
    let unknown = uuid::Uuid::new_v4();
    for (bearer, path, expected) in [
        (stranger.as_str(), format!("/v1/keys/{fresh}"), 404),
        (me.as_str(), format!("/v1/keys/{unknown}"), 404),
        (me.as_str(), "/v1/keys/not-a-uuid".to_owned(), 400),
        ("garbage", format!("/v1/keys/{fresh}"), 401),
    ] {
        for (method, suffix, body) in [
            (reqwest::Method::PATCH, "", Some(json!({"name": "x"}))),
            (reqwest::Method::DELETE, "", None),
            (reqwest::Method::POST, "/rotate", None),
        ] {
            let res = call(
                app,
                method.clone(),
                &format!("{path}{suffix}"),
                bearer,
                body,
            )
            .await;
            let e = error(res, expected).await;
            assert!(!e.message.is_empty(), "{method} {path}{suffix}: {e:?}");
        }
    }
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(51)}),
        json!({"name": 3}),
    ] {
        let res = call(
            app,
            reqwest::Method::PATCH,
            &format!("/v1/keys/{fresh}"),
            &me,
            Some(bad.clone()),
        )
        .await;
        error(res, 400).await;
    }
    let keys = owned_keys(app, &user).await;
    let fresh_now = keys.iter().find(|k| k.id == fresh).unwrap();
    assert_eq!(fresh_now.name, "fresh");
    assert_eq!(fresh_now.status, KeyStatus::Active);

    // The operator revokes any key; a wrong admin token changes nothing.
    let res = call(
        app,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{fresh}"),
        "not-the-admin-token",
        None,
    )
    .await;
    assert_eq!(error_code(res, 401).await, "unauthorized");
    assert_eq!(gateway_status(newapi, &created_key).await, 200);
    let by_operator = key_call(
        app,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{fresh}"),
        ADMIN_TOKEN,
        None,
        200,
    )
    .await;
    assert_eq!(by_operator.status, KeyStatus::Revoked);
    assert_eq!(gateway_status(newapi, &created_key).await, 401);
}

fn deletion(user: &str) -> Value {
    json!({
        "type": "DELETE",
        "table": "users",
        "schema": "auth",
        "record": null,
        "old_record": { "id": user, "email": format!("{user}@example.com") },
    })
}

async fn a_deleted_user_loses_every_key(backend: NewapiBackend) {
    let env = spawn_database(backend).await;
    deleted_user(&env.app, &env.newapi, true).await;
}

#[tokio::test]
async fn a_deleted_user_loses_every_key_in_import_mode() {
    let env = spawn().await;
    deleted_user(&env.app, &env.newapi, false).await;
}

async fn deleted_user(app: &TestApp, newapi: &NewapiSim, database_mode: bool) {
    let user = uuid::Uuid::new_v4().to_string();
    let bystander = uuid::Uuid::new_v4().to_string();
    post_signup(app, &signup(&user)).await;
    post_signup(app, &signup(&bystander)).await;
    for name in ["two", "three"] {
        key_call(
            app,
            reqwest::Method::POST,
            "/v1/keys",
            &user_token(&user),
            Some(json!({ "name": name })),
            201,
        )
        .await;
    }
    let keys: Vec<String> = owned_keys(app, &user)
        .await
        .into_iter()
        .map(|k| k.key.unwrap())
        .collect();
    assert_eq!(keys.len(), 3);
    for key in &keys {
        assert_eq!(gateway_status(newapi, key).await, 200);
    }
    let bystander_key = owned_keys(app, &bystander).await[0].key.clone().unwrap();

    // A bad secret changes nothing.
    let res = app
        .client
        .post(app.url("/webhooks/supabase/users"))
        .bearer_auth("not-the-secret")
        .json(&deletion(&user))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "unauthorized");
    for key in &keys {
        assert_eq!(gateway_status(newapi, key).await, 200);
    }

    // Supabase deleted the user: api_keys cascaded away before the webhook arrives.
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!("DELETE FROM api_keys WHERE user_id = '{user}'"))
        .execute(&mut conn)
        .await
        .unwrap();
    let body: DeletionAnswer = answer(post_signup(app, &deletion(&user)).await, 200).await;
    assert!(body.deleted && !body.already && body.disabled, "{body:?}");
    for key in &keys {
        assert_eq!(gateway_status(newapi, key).await, 401);
    }
    assert_eq!(gateway_status(newapi, &bystander_key).await, 200);
    let statuses: Vec<Option<i32>> = {
        let mut conn = NewapiConn::establish(newapi.db.url()).await.unwrap();
        with_conn!(&mut conn, |c| {
            users::table
                .order(users::id)
                .select(users::status)
                .load(c)
                .await
        })
        .unwrap()
    };
    assert_eq!(
        statuses,
        vec![Some(2), Some(1)],
        "the user disabled, the bystander not"
    );
    if database_mode {
        assert_eq!(
            count(
                app,
                &format!(
                    "SELECT count(*) AS n FROM gateway_users WHERE user_id = '{user}' AND disabled"
                )
            )
            .await,
            1
        );
    }

    // A replay is a no-op.
    let body: DeletionAnswer = answer(post_signup(app, &deletion(&user)).await, 200).await;
    assert!(body.already && body.disabled, "{body:?}");
    // Bad deliveries: 400 JSON.
    for bad in [
        json!({"type": "DELETE", "table": "users", "schema": "auth", "old_record": null}),
        json!({"type": "DELETE", "table": "users", "schema": "auth", "old_record": {"id": "nope"}}),
    ] {
        let e = error(post_signup(app, &bad).await, 400).await;
        assert!(!e.code.is_empty(), "{bad}");
    }
}

async fn a_revocation_that_cannot_land_is_retried(backend: NewapiBackend) {
    let newapi = newapi_sim(backend).await;
    let (gate, through_gate) = database_behind_gate(&newapi).await;
    let app = spawn_with(move |db| database_settings(db, &through_gate)).await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&app, &signup(&user)).await;
    let key = owned_keys(&app, &user).await.remove(0);
    let full = key.key.as_deref().unwrap();
    assert_eq!(gateway_status(&newapi, full).await, 200);

    gate.close();
    // The gate cuts open connections asynchronously.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = key_call(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{}", key.id),
        &user_token(&user),
        None,
        200,
    )
    .await;
    assert_eq!(body.status, KeyStatus::Revoked);
    assert_ne!(body.sync.state, SyncState::Synced, "{body:?}");
    let listed = owned_keys(&app, &user).await;
    assert_ne!(listed[0].sync.state, SyncState::Synced);
    assert_eq!(gateway_status(&newapi, full).await, 200, "not landed yet");

    gate.open();
    wait_gateway(&newapi, full, 401, Duration::from_secs(20)).await;
    wait_for_count(
        &app,
        "SELECT count(*) AS n FROM api_keys WHERE status = 2 AND newapi_synced",
        1,
        Duration::from_secs(10),
    )
    .await;
}

/// A new-api database whose user ids start at a random offset, so that new-api's fixed
/// `user:<id>` cache keys of parallel tests sharing one Redis never meet.
async fn newapi_with_cache(backend: NewapiBackend, ttl: Duration) -> (NewapiSim, String) {
    let db = newapi_db(backend).await;
    let start = 1_000_000 + rand_offset();
    let statement = match backend {
        NewapiBackend::Postgres => format!("ALTER SEQUENCE users_id_seq RESTART WITH {start}"),
        NewapiBackend::Mysql => format!("ALTER TABLE users AUTO_INCREMENT = {start}"),
    };
    let mut conn = NewapiConn::establish(db.url()).await.unwrap();
    with_conn!(&mut conn, |c| diesel::sql_query(&statement)
        .execute(c)
        .await)
    .unwrap();
    let secret = uuid::Uuid::new_v4().to_string();
    let newapi = newapi_sim_with(
        db,
        Some(newapi_sim::CacheConfig {
            url: REDIS_URL.into(),
            crypto_secret: secret.clone(),
            ttl,
        }),
    )
    .await;
    (newapi, secret)
}

const REDIS_URL: &str = "redis://127.0.0.1:6379";

fn rand_offset() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_fields().0) % 1_000_000_000
}

#[tokio::test]
async fn with_the_cache_settings_a_revocation_takes_effect_at_once() {
    let (newapi, secret) =
        newapi_with_cache(NewapiBackend::Postgres, Duration::from_secs(60)).await;
    let url = newapi.db.url().to_owned();
    let app = spawn_with(move |db| {
        let mut s = database_settings(db, &url);
        s.key_sync.newapi_redis_url = Some(REDIS_URL.into());
        s.key_sync.newapi_crypto_secret = Some(secret.into());
        key_sync::settings::Settings::new(s.common, s.key_sync).unwrap()
    })
    .await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&app, &signup(&user)).await;
    let key = owned_keys(&app, &user).await.remove(0);
    let full = key.key.as_deref().unwrap();
    assert_eq!(gateway_status(&newapi, full).await, 200, "now cached");
    tokio::time::sleep(Duration::from_millis(200)).await; // the cache fill is written after the answer
    let body = key_call(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{}", key.id),
        &user_token(&user),
        None,
        200,
    )
    .await;
    assert_eq!(body.takes_effect.as_deref(), Some("now"));
    assert_eq!(gateway_status(&newapi, full).await, 401);
}

#[tokio::test]
async fn without_the_cache_settings_a_revoked_key_works_until_the_cache_expires() {
    let ttl = Duration::from_secs(2);
    let (newapi, _) = newapi_with_cache(NewapiBackend::Mysql, ttl).await;
    let app = spawn_database_against(&newapi).await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&app, &signup(&user)).await;
    let key = owned_keys(&app, &user).await.remove(0);
    let full = key.key.as_deref().unwrap();
    assert_eq!(gateway_status(&newapi, full).await, 200, "now cached");
    let body = key_call(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{}", key.id),
        &user_token(&user),
        None,
        200,
    )
    .await;
    assert!(body.takes_effect.unwrap().contains("SYNC_FREQUENCY"));
    assert_eq!(
        gateway_status(&newapi, full).await,
        200,
        "served from new-api's cache"
    );
    wait_gateway(&newapi, full, 401, ttl + Duration::from_secs(3)).await;
}
