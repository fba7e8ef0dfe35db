//! usage-stats under test: the real app on port 0 with its own Tollgate database, reading a
//! fresh new-api database (MariaDB or Postgres) filled by the test.
#![allow(dead_code)]

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::schema::tokens;
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{with_conn, Backend, NewToken, NewapiConn};
use tollgate_testkit::{common_settings, newapi_db, TestApp};
use usage_stats::settings::{Settings, UsageSettings};

pub fn settings(database_url: &str, newapi_url: &str, token_cache_ms: u64) -> Settings {
    Settings::new(
        common_settings(database_url),
        UsageSettings {
            newapi_database_url: newapi_url.into(),
            newapi_log_database_url: None,
            quota_per_unit: 500_000,
            newapi_pool_size: 4,
            token_cache_ms,
            ingest_interval_ms: 50,
            ingest_batch: 500,
            ingest_gap_grace_secs: 600,
            ingest_max_gaps: 20_000,
            rate_limit_per_min: 0,
            result_cache_mb: 16,
            cors_origins: "https://portal.example.com".into(),
        },
    )
    .expect("valid test settings")
}

pub struct Env {
    pub app: TestApp,
    pub newapi: ScratchDb,
}

pub async fn spawn(backend: Backend) -> Env {
    spawn_with_cache(backend, 100).await
}

pub async fn spawn_with_cache(backend: Backend, token_cache_ms: u64) -> Env {
    let newapi = newapi_db(backend).await;
    let url = newapi.url().to_owned();
    let app = TestApp::spawn(|db| async move {
        usage_stats::startup::build(settings(&db, &url, token_cache_ms)).await
    })
    .await
    .expect("usage-stats starts");
    Env { app, newapi }
}

/// A 48-character key unique to this test.
pub fn new_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")[..48].to_owned()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Insert `token` into new-api's `tokens`; returns its id.
pub async fn insert_token(env: &Env, token: NewToken) -> i64 {
    let mut conn = NewapiConn::establish(env.newapi.url()).await.unwrap();
    let key = token.key.clone();
    with_conn!(&mut conn, |c| {
        diesel::insert_into(tokens::table)
            .values(&token)
            .execute(c)
            .await
            .unwrap();
        tokens::table
            .filter(tokens::key.eq(&key))
            .select(tokens::id)
            .first::<i64>(c)
            .await
            .unwrap()
    })
}

/// Run statements (`;`-separated) on new-api's database.
pub async fn newapi_exec(env: &Env, sql: &str) {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = NewapiConn::establish(env.newapi.url()).await.unwrap();
    with_conn!(&mut conn, |c| c.batch_execute(sql).await.unwrap());
}

/// Generate `#[tokio::test]`s running `$f(Backend)` on MariaDB and on Postgres.
#[macro_export]
macro_rules! on_both_backends {
    ($($f:ident),+ $(,)?) => {
        mod mariadb {
            $(#[tokio::test] async fn $f() { super::$f(tollgate_newapi_schema::Backend::Mysql).await; })+
        }
        mod postgres {
            $(#[tokio::test] async fn $f() { super::$f(tollgate_newapi_schema::Backend::Postgres).await; })+
        }
    };
}
