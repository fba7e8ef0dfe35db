//! key-sync under test: the real app on port 0 with its own database, a new-api simulator on
//! its own database, HS256 user tokens, fast retry settings.
#![allow(dead_code, unused_macros)]

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jsonwebtoken::{encode, EncodingKey, Header};
use key_sync::handlers::views::{OwnerKey, OwnerKeyList, SignupAnswer};
use key_sync::settings::{KeySyncSettings, Settings};
use serde_json::{json, Value};
use tollgate_testkit::{
    common_settings, newapi_sim, NewapiBackend, NewapiSim, TcpGate, TestApp, NEWAPI_ADMIN_TOKEN,
};

pub const WEBHOOK_SECRET: &str = "test-supabase-webhook-secret";
pub const JWT_SECRET: &str = "test-jwt-secret-with-at-least-32-characters";
pub const ENCRYPTION_KEY: &str = "dG9sbGdhdGUtbG9jYWwtZGVtby1rZXktMzItYnl0ZXM=";
pub const INTERNAL_TOKEN: &str = "test-internal-token-0123456789";

/// Run each listed `async fn(NewapiBackend)` as a test per backend (`<name>::postgres`,
/// `<name>::mariadb`). Callers import `NewapiBackend`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                super::$name(super::NewapiBackend::Postgres).await
            }
            #[tokio::test]
            async fn mariadb() {
                super::$name(super::NewapiBackend::Mysql).await
            }
        }
    )*};
}

/// A [`TcpGate`] in front of `newapi`'s database and the database URL through it (MySQL
/// URLs also keep mysql_async from switching to MariaDB's Unix socket, around the gate).
pub async fn database_behind_gate(newapi: &NewapiSim) -> (TcpGate, String) {
    let mut url = url::Url::parse(newapi.db.url()).unwrap();
    let gate = TcpGate::start(&format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    ))
    .await;
    url.set_port(Some(gate.port())).unwrap();
    if newapi.sim.backend() == NewapiBackend::Mysql {
        url.set_query(Some("prefer_socket=false"));
    }
    (gate, url.to_string())
}

/// Settings pointing at `newapi_base_url`, with quick retries.
pub fn settings(database_url: &str, newapi_base_url: &str) -> Settings {
    settings_with_timeout(database_url, newapi_base_url, 400)
}

/// The same, with another timeout for calls to new-api.
pub fn settings_with_timeout(
    database_url: &str,
    newapi_base_url: &str,
    newapi_timeout_ms: u64,
) -> Settings {
    let key_sync = KeySyncSettings {
        newapi_sync_mode: None,
        newapi_base_url: newapi_base_url.into(),
        newapi_admin_token: NEWAPI_ADMIN_TOKEN.into(),
        newapi_database_url: None,
        newapi_pool_size: 10,
        newapi_user_group: "default".into(),
        newapi_user_quota: 0,
        newapi_token_unlimited: true,
        newapi_token_quota: 0,
        newapi_redis_url: None,
        newapi_crypto_secret: None,
        supabase_webhook_secret: WEBHOOK_SECRET.into(),
        supabase_jwt_secret: Some(JWT_SECRET.into()),
        supabase_url: None,
        key_encryption_key: ENCRYPTION_KEY.into(),
        newapi_timeout_ms,
        sync_interval_ms: 50,
        sync_batch_size: 50,
        sync_backoff_base_ms: 50,
        sync_backoff_cap_ms: 300,
        max_keys_per_user: 3,
        reconcile_interval_secs: 0,
        jwks_cache_secs: 600,
        internal_token: Some(INTERNAL_TOKEN.into()),
    };
    Settings::new(common_settings(database_url), key_sync).expect("valid test settings")
}

/// Settings for database mode against new-api's database at `newapi_database_url`, with a
/// user quota so keys can relay.
pub fn database_settings(database_url: &str, newapi_database_url: &str) -> Settings {
    let mut s = settings(database_url, "http://127.0.0.1:9");
    s.key_sync.newapi_sync_mode = Some("database".into());
    s.key_sync.newapi_base_url = String::new();
    s.key_sync.newapi_admin_token = Default::default();
    s.key_sync.newapi_database_url = Some(newapi_database_url.into());
    s.key_sync.newapi_user_quota = USER_QUOTA;
    Settings::new(s.common, s.key_sync).expect("valid database-mode settings")
}

/// `NEWAPI_USER_QUOTA` in database-mode tests.
pub const USER_QUOTA: i64 = 1_000_000;

/// key-sync in database mode against `newapi`'s database.
pub async fn spawn_database_against(newapi: &NewapiSim) -> TestApp {
    let url = newapi.db.url().to_owned();
    spawn_with(move |db| database_settings(db, &url)).await
}

/// key-sync built from `settings(database_url)`.
pub async fn spawn_with(settings: impl FnOnce(&str) -> Settings + Send + 'static) -> TestApp {
    TestApp::spawn(|db_url| async move { key_sync::startup::build(settings(&db_url)).await })
        .await
        .expect("key-sync starts")
}

/// key-sync in database mode against a fresh new-api simulator's database on `backend`.
pub async fn spawn_database(backend: NewapiBackend) -> Env {
    let newapi = newapi_sim(backend).await;
    let app = spawn_database_against(&newapi).await;
    Env { app, newapi }
}

/// The app and its gateway.
pub struct Env {
    pub app: TestApp,
    pub newapi: NewapiSim,
}

/// key-sync against a fresh new-api simulator (Postgres-backed).
pub async fn spawn() -> Env {
    let newapi = newapi_sim(NewapiBackend::Postgres).await;
    let app = spawn_against(&newapi.base_url()).await;
    Env { app, newapi }
}

/// key-sync against whatever answers at `newapi_base_url`.
pub async fn spawn_against(newapi_base_url: &str) -> TestApp {
    let base = newapi_base_url.to_owned();
    TestApp::spawn(|db_url| async move { key_sync::startup::build(settings(&db_url, &base)).await })
        .await
        .expect("key-sync starts")
}

/// key-sync with a patient new-api client (no timeout, so no retry, even on a loaded
/// machine), and a second replica of it.
pub async fn spawn_patient_pair() -> (Env, String) {
    let newapi = newapi_sim(NewapiBackend::Postgres).await;
    let base = newapi.base_url();
    let app = TestApp::spawn(|db_url| async move {
        key_sync::startup::build(settings_with_timeout(&db_url, &base, 10_000)).await
    })
    .await
    .expect("key-sync starts");
    let second = start_replica(settings_with_timeout(
        app.db.url(),
        &newapi.base_url(),
        10_000,
    ))
    .await;
    (Env { app, newapi }, second)
}

/// A second replica of the app on the same database.
pub async fn replica(app: &TestApp, newapi_base_url: &str) -> String {
    start_replica(settings(app.db.url(), newapi_base_url)).await
}

/// Start another replica built from `settings`; its base URL.
pub async fn start_replica(settings: Settings) -> String {
    let built = key_sync::startup::build(settings)
        .await
        .expect("replica starts");
    let url = format!("http://127.0.0.1:{}", built.port());
    tokio::spawn(built.run_until_stopped());
    url
}

/// Supabase's webhook body for a new user.
pub fn signup(user: &str) -> Value {
    json!({
        "type": "INSERT",
        "table": "users",
        "schema": "auth",
        "record": { "id": user, "email": format!("{user}@example.com") },
        "old_record": null,
    })
}

pub async fn post_signup(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/supabase/users"))
        .bearer_auth(WEBHOOK_SECRET)
        .json(body)
        .send()
        .await
        .expect("webhook request")
}

/// An HS256 Supabase access token for `sub`.
pub fn user_token(sub: &str) -> String {
    token_with(json!({
        "sub": sub,
        "aud": "authenticated",
        "role": "authenticated",
        "exp": chrono::Utc::now().timestamp() + 3600,
    }))
}

pub fn token_with(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// `GET /v1/keys` as `sub`, read as key-sync's own type.
pub async fn owned_keys(app: &TestApp, sub: &str) -> Vec<OwnerKey> {
    let res = app
        .client
        .get(app.url("/v1/keys"))
        .bearer_auth(user_token(sub))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<OwnerKeyList>().await.unwrap().keys
}

/// A signup delivered for `user`, answered 200.
pub async fn signed_up(app: &TestApp, user: &str) -> SignupAnswer {
    tollgate_testkit::answer(post_signup(app, &signup(user)).await, 200).await
}

/// Status of `GET /v1/models` on the gateway with `key`.
pub async fn gateway_status(newapi: &NewapiSim, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/v1/models", newapi.base_url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[derive(QueryableByName)]
pub struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.db.connect().await;
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

pub async fn key_rows(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) AS n FROM api_keys").await
}

/// Poll until `sql` counts `expected`, or fail after `within`.
pub async fn wait_for_count(app: &TestApp, sql: &str, expected: i64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = count(app, sql).await;
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run `n` signups for fresh users, `parallel` at a time; returns the user ids.
pub async fn many_signups(app: &TestApp, n: usize, parallel: usize) -> Vec<String> {
    use futures_util::StreamExt;
    let users: Vec<String> = (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let app = Arc::new(app);
    futures_util::stream::iter(users.clone())
        .for_each_concurrent(parallel, |user| {
            let app = app.clone();
            async move {
                let res = post_signup(&app, &signup(&user)).await;
                assert_eq!(res.status(), 200, "signup of {user}");
            }
        })
        .await;
    users
}
