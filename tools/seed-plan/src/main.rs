//! `seed-plan`: a **benchmark baseline only**, not a service. It serves
//! `GET /api/usage/token/detail?start&end` the way the seed's TASK-02 planned it, so that
//! `scripts/bench/usage-stats.sh` can measure that plan's cost on the same data as
//! usage-stats. Per request, on one pooled connection to new-api's database:
//!
//! 1. authenticate the key: look it up in `tokens` (no cache, like a bare `TokenAuth`);
//! 2. four queries over raw `logs`, each `WHERE token_id = ? AND type = 2 AND created_at
//!    BETWEEN ? AND ?`: the summary, `GROUP BY model_name`, `GROUP BY` UTC day, and the 20
//!    newest logs.
//!
//! The JSON is shaped roughly like usage-stats' `/detail`; the figures are not checked
//! against anything (what matters here is what the plan costs). `GET /health` answers 200.
//!
//! Environment: `NEWAPI_DATABASE_URL` (`mysql://…` or `postgres://…`, required), `PORT`
//! (default 18090), `NEWAPI_POOL_SIZE` (default 32).

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_newapi_schema::{with_conn, Backend, NewapiPool};

/// The plan's SQL for one backend. Placeholders: `?` (MySQL) or `$n` (Postgres).
struct Sql {
    auth: &'static str,
    summary: &'static str,
    by_model: &'static str,
    by_day: &'static str,
    recent: &'static str,
}

const MYSQL: Sql = Sql {
    auth: "SELECT id, `key` AS k FROM tokens WHERE `key` = ? AND deleted_at IS NULL \
           AND status = 1 AND (expired_time = -1 OR expired_time > ?) LIMIT 2",
    summary: "SELECT CAST(COALESCE(SUM(quota), 0) AS SIGNED) AS quota, COUNT(*) AS requests, \
              CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS SIGNED) AS tokens, \
              CAST(COALESCE(AVG(use_time), 0) * 1000 AS SIGNED) AS avg_latency_ms \
              FROM logs WHERE token_id = ? AND type = 2 AND created_at BETWEEN ? AND ?",
    by_model: "SELECT COALESCE(model_name, '') AS label, CAST(COALESCE(SUM(quota), 0) AS SIGNED) AS quota, \
               COUNT(*) AS requests, \
               CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS SIGNED) AS tokens \
               FROM logs WHERE token_id = ? AND type = 2 AND created_at BETWEEN ? AND ? \
               GROUP BY model_name ORDER BY quota DESC",
    by_day: "SELECT DATE_FORMAT(FROM_UNIXTIME(created_at), '%Y-%m-%d') AS label, \
             CAST(COALESCE(SUM(quota), 0) AS SIGNED) AS quota, COUNT(*) AS requests, \
             CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS SIGNED) AS tokens \
             FROM logs WHERE token_id = ? AND type = 2 AND created_at BETWEEN ? AND ? \
             GROUP BY label ORDER BY label",
    recent: "SELECT id, created_at, model_name, quota, prompt_tokens, completion_tokens, \
             use_time, is_stream, content \
             FROM logs WHERE token_id = ? AND type = 2 AND created_at BETWEEN ? AND ? \
             ORDER BY id DESC LIMIT 20",
};

const POSTGRES: Sql = Sql {
    auth: r#"SELECT id, "key" AS k FROM tokens WHERE "key" = $1 AND deleted_at IS NULL
             AND status = 1 AND (expired_time = -1 OR expired_time > $2) LIMIT 2"#,
    summary: "SELECT CAST(COALESCE(SUM(quota), 0) AS BIGINT) AS quota, COUNT(*) AS requests, \
              CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS tokens, \
              CAST(COALESCE(AVG(use_time), 0) * 1000 AS BIGINT) AS avg_latency_ms \
              FROM logs WHERE token_id = $1 AND type = 2 AND created_at BETWEEN $2 AND $3",
    by_model: "SELECT COALESCE(model_name, '') AS label, CAST(COALESCE(SUM(quota), 0) AS BIGINT) AS quota, \
               COUNT(*) AS requests, \
               CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS tokens \
               FROM logs WHERE token_id = $1 AND type = 2 AND created_at BETWEEN $2 AND $3 \
               GROUP BY model_name ORDER BY 2 DESC",
    by_day: "SELECT to_char(to_timestamp(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS label, \
             CAST(COALESCE(SUM(quota), 0) AS BIGINT) AS quota, COUNT(*) AS requests, \
             CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS tokens \
             FROM logs WHERE token_id = $1 AND type = 2 AND created_at BETWEEN $2 AND $3 \
             GROUP BY 1 ORDER BY 1",
    recent: "SELECT id, created_at, model_name, quota, prompt_tokens, completion_tokens, \
             use_time, is_stream, content \
             FROM logs WHERE token_id = $1 AND type = 2 AND created_at BETWEEN $2 AND $3 \
             ORDER BY id DESC LIMIT 20",
};

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = BigInt)]
    quota: i64,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    tokens: i64,
    #[diesel(sql_type = BigInt)]
    avg_latency_ms: i64,
}

/// One row of `by_model` (label = model) or `by_day` (label = `YYYY-MM-DD`).
#[derive(QueryableByName)]
struct GroupRow {
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    quota: i64,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    tokens: i64,
}

#[derive(QueryableByName)]
struct LogRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_at: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    model_name: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    quota: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    prompt_tokens: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    completion_tokens: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    use_time: Option<i64>,
    #[diesel(sql_type = Nullable<Bool>)]
    is_stream: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
}

struct State {
    pool: NewapiPool,
    sql: &'static Sql,
}

#[derive(Deserialize)]
struct Range {
    start: Option<i64>,
    end: Option<i64>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn error(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "success": false, "message": message }))
}

/// The key from `Authorization: Bearer sk-…`, without `sk-` (new-api stores it bare).
fn bearer_key(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    let key = key.strip_prefix("sk-").unwrap_or(key);
    let key = key.split('-').next().unwrap_or(key);
    (!key.is_empty()).then(|| key.to_owned())
}

async fn detail(req: HttpRequest, q: web::Query<Range>, state: web::Data<State>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(key) = bearer_key(&req) else {
        return error(StatusCode::UNAUTHORIZED, "missing or malformed key");
    };
    let end = q.end.filter(|&e| e > 0).unwrap_or_else(now);
    let start = q.start.filter(|&s| s > 0).unwrap_or(end - 30 * 86_400);
    match run(&state, &key, start, end).await {
        Ok(Some(body)) => HttpResponse::Ok().json(body),
        Ok(None) => error(StatusCode::UNAUTHORIZED, "invalid key"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
    }
}

/// The seed's plan: auth, then summary, by model, by day and recent logs, one after another.
async fn run(state: &State, key: &str, start: i64, end: i64) -> anyhow::Result<Option<Value>> {
    let sql = state.sql;
    let mut conn = state.pool.get().await?;
    let out = with_conn!(&mut conn, |c| {
        let tokens: Vec<TokenRow> = diesel::sql_query(sql.auth)
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(now())
            .load(c)
            .await?;
        // MySQL's default collation ignores case; keys do not.
        let Some(token) = tokens.into_iter().find(|t| t.k.as_deref() == Some(key)) else {
            return Ok::<_, diesel::result::Error>(None);
        };
        let summary: SummaryRow = diesel::sql_query(sql.summary)
            .bind::<BigInt, _>(token.id)
            .bind::<BigInt, _>(start)
            .bind::<BigInt, _>(end)
            .get_result(c)
            .await?;
        let by_model: Vec<GroupRow> = diesel::sql_query(sql.by_model)
            .bind::<BigInt, _>(token.id)
            .bind::<BigInt, _>(start)
            .bind::<BigInt, _>(end)
            .load(c)
            .await?;
        let by_day: Vec<GroupRow> = diesel::sql_query(sql.by_day)
            .bind::<BigInt, _>(token.id)
            .bind::<BigInt, _>(start)
            .bind::<BigInt, _>(end)
            .load(c)
            .await?;
        let recent: Vec<LogRow> = diesel::sql_query(sql.recent)
            .bind::<BigInt, _>(token.id)
            .bind::<BigInt, _>(start)
            .bind::<BigInt, _>(end)
            .load(c)
            .await?;
        Ok(Some((summary, by_model, by_day, recent)))
    })
    .context("new-api database")?;
    let Some((summary, by_model, by_day, recent)) = out else {
        return Ok(None);
    };
    let models: Vec<Value> = by_model
        .iter()
        .map(|m| {
            let share = if summary.quota == 0 {
                0.0
            } else {
                m.quota as f64 * 100.0 / summary.quota as f64
            };
            json!({"model_name": m.label, "quota": m.quota, "requests": m.requests,
                   "tokens": m.tokens, "percentage": (share * 100.0).round() / 100.0})
        })
        .collect();
    let days: Vec<Value> = by_day
        .iter()
        .map(|d| json!({"date": d.label, "quota": d.quota, "requests": d.requests, "tokens": d.tokens}))
        .collect();
    let logs: Vec<Value> = recent
        .iter()
        .map(|l| {
            let (p, c) = (
                l.prompt_tokens.unwrap_or(0),
                l.completion_tokens.unwrap_or(0),
            );
            json!({"id": l.id, "created_at": l.created_at, "model_name": l.model_name,
                   "quota": l.quota, "prompt_tokens": p, "completion_tokens": c, "tokens": p + c,
                   "use_time": l.use_time, "is_stream": l.is_stream.unwrap_or(false),
                   "content": l.content})
        })
        .collect();
    Ok(Some(json!({
        "success": true,
        "data": {
            "summary": {
                "total_quota": summary.quota,
                "total_requests": summary.requests,
                "total_tokens": summary.tokens,
                "avg_latency_ms": summary.avg_latency_ms,
            },
            "by_model": models,
            "by_day": days,
            "recent_logs": logs,
        }
    })))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("NEWAPI_DATABASE_URL").context("NEWAPI_DATABASE_URL is required")?;
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "18090".into())
        .parse()
        .context("PORT")?;
    let pool_size: u32 = std::env::var("NEWAPI_POOL_SIZE")
        .unwrap_or_else(|_| "32".into())
        .parse()
        .context("NEWAPI_POOL_SIZE")?;
    let pool = NewapiPool::new(&url, pool_size, Duration::from_secs(30))?;
    let sql = match pool.backend() {
        Backend::Mysql => &MYSQL,
        Backend::Postgres => &POSTGRES,
    };
    pool.ping(Duration::from_secs(10)).await?;
    let state = web::Data::new(State { pool, sql });
    eprintln!("seed-plan (benchmark baseline) on 127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route(
                "/health",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
            .route("/api/usage/token/detail", web::get().to(detail))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
