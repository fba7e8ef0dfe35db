//! usage-stats under test: the real app on port 0 with its own Tollgate database, reading a
//! fresh new-api database (MariaDB or Postgres) filled by the test.
#![allow(dead_code)]

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::de::DeserializeOwned;
use tollgate_newapi_schema::schema::tokens;
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{with_conn, Backend, NewToken, NewapiConn};
use tollgate_testkit::clickhouse::ChDb;
use tollgate_testkit::{answer, common_settings, newapi_db, TestApp};
use usage_stats::query::views::Answer;
use usage_stats::settings::{Settings, UsageSettings};

pub fn settings(database_url: &str, newapi_url: &str, token_cache_ms: u64) -> Settings {
    Settings::new(
        common_settings(database_url),
        UsageSettings {
            newapi_database_url: newapi_url.into(),
            newapi_log_database_url: None,
            clickhouse_timeout_ms: 5_000,
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
            key_sync_url: None,
            internal_token: None,
            key_sync_timeout_ms: 1_000,
            user_keys_cache_ms: 100,
            supabase_jwt_secret: None,
            supabase_url: None,
            jwks_cache_secs: 600,
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

/// The `data` of a 200 answer to `GET path` with `Authorization: Bearer <auth>`, read as
/// usage-stats' own type.
pub async fn data_of<T: DeserializeOwned>(app: &TestApp, auth: &str, path: &str) -> T {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(auth)
        .send()
        .await
        .unwrap();
    answer::<Answer<T>>(res, 200).await.data
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Insert `token` into new-api's `tokens`; returns its id.
pub async fn insert_token(env: &Env, token: NewToken) -> i64 {
    insert_token_at(env.newapi.url(), token).await
}

/// Insert `token` into the `tokens` of new-api's database at `url`; returns its id.
pub async fn insert_token_at(url: &str, token: NewToken) -> i64 {
    let mut conn = NewapiConn::establish(url).await.unwrap();
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

/// One log row to write with an explicit id (new-api's columns that usage-stats reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub id: i64,
    pub token_id: i64,
    pub created_at: i64,
    pub kind: i64,
    pub model: String,
    pub quota: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub use_time: i64,
}

impl LogRow {
    /// A consume log of `token` at `created_at`.
    pub fn consume(id: i64, token_id: i64, created_at: i64, model: &str, quota: i64) -> Self {
        Self {
            id,
            token_id,
            created_at,
            kind: 2,
            model: model.into(),
            quota,
            prompt_tokens: quota % 97,
            completion_tokens: quota % 89,
            use_time: quota % 5,
        }
    }
}

/// Write `rows` into new-api's `logs` at `url`, 2 000 per statement (model names are quoted
/// for SQL: no `'` allowed in them).
pub async fn write_logs(url: &str, rows: &[LogRow]) {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = NewapiConn::establish(url).await.unwrap();
    for chunk in rows.chunks(2_000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                assert!(!r.model.contains('\''));
                format!(
                    "({}, 1, {}, {}, '{}', {}, {}, {}, {}, {}, false, 'x')",
                    r.id,
                    r.created_at,
                    r.kind,
                    r.model,
                    r.quota,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.use_time,
                    r.token_id
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO logs (id, user_id, created_at, type, model_name, quota, prompt_tokens, completion_tokens, use_time, token_id, is_stream, content) VALUES {}",
            values.join(", ")
        );
        with_conn!(&mut conn, |c| c.batch_execute(&sql).await.unwrap());
    }
}

/// Rows as new-api writes them to ClickHouse: `id` 0, the id as a sortable `request_id`.
pub async fn write_clickhouse_logs(ch: &ChDb, rows: &[LogRow]) {
    if rows.is_empty() {
        return;
    }
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "(0, {}, {}, {}, '{}', {}, {}, {}, {}, '{:012}')",
                r.token_id,
                r.created_at,
                r.kind,
                r.model,
                r.quota,
                r.prompt_tokens,
                r.completion_tokens,
                r.use_time,
                r.id
            )
        })
        .collect();
    ch.exec(&format!(
        "INSERT INTO logs (id, token_id, created_at, type, model_name, quota, prompt_tokens, \
         completion_tokens, use_time, request_id) VALUES {}",
        values.join(", ")
    ))
    .await;
}

/// `n` consume logs of `token` with ids `first, first + 2, …` (a hole after each), all at
/// `created_at`, spread over four models.
pub fn every_other_id(first: i64, n: i64, token: i64, created_at: i64) -> Vec<LogRow> {
    (0..n)
        .map(|i| {
            let model = ["gpt-4o", "o3", "claude-3-5-sonnet", "deepseek-chat"][(i % 4) as usize];
            LogRow::consume(first + 2 * i, token, created_at, model, 100 + i % 900)
        })
        .collect()
}

/// Rows of Tollgate's `usage_ingest_gaps` (ids still waited for).
pub async fn waiting_gaps(conn: &mut diesel_async::AsyncPgConnection) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM usage_ingest_gaps")
        .get_result::<N>(conn)
        .await
        .unwrap()
        .n
}

/// Every row of new-api's `logs` at `url` (what usage-stats reads of them).
pub async fn raw_logs(url: &str) -> Vec<LogRow> {
    use tollgate_newapi_schema::schema::logs;
    type Row = (
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let mut conn = NewapiConn::establish(url).await.unwrap();
    let rows: Vec<Row> = with_conn!(&mut conn, |c| {
        logs::table
            .select((
                logs::id,
                logs::token_id,
                logs::created_at,
                logs::type_,
                logs::model_name,
                logs::quota,
                logs::prompt_tokens,
                logs::completion_tokens,
                logs::use_time,
            ))
            .load(c)
            .await
            .unwrap()
    });
    rows.into_iter()
        .map(|r| LogRow {
            id: r.0,
            token_id: r.1.unwrap_or_default(),
            created_at: r.2.unwrap_or_default(),
            kind: r.3.unwrap_or_default(),
            model: r.4.unwrap_or_default(),
            quota: r.5.unwrap_or_default(),
            prompt_tokens: r.6.unwrap_or_default(),
            completion_tokens: r.7.unwrap_or_default(),
            use_time: r.8.unwrap_or_default(),
        })
        .collect()
}
