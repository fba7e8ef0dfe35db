//! Every figure of /detail, /chart and /logs equals the raw SQL aggregate over new-api's
//! consume logs for the same range, to the unit; bad input is 400; new logs show within 2 s.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde::de::DeserializeOwned;
use support::*;
use tollgate_newapi_schema::{with_conn, Backend, NewToken, NewapiConn};
use tollgate_testkit::error_code;
use usage_stats::query::views::{Chart, ChartPoint, Detail, LogsPage};

const MIDNIGHT: i64 = 1_763_769_600; // 2025-11-22T00:00:00Z
const MODELS: [&str; 5] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3-5-sonnet",
    "deepseek-chat",
    "o3",
];

struct Data {
    env: Env,
    key: String,
    token: i64,
    start: i64,
    end: i64,
}

async fn exec(env: &Env, sql: &str) {
    let mut conn = NewapiConn::establish(env.newapi.url()).await.unwrap();
    with_conn!(&mut conn, |c| c.batch_execute(sql).await.unwrap());
}

/// `[quota, prompt_tokens, completion_tokens, use_time]` in `n`.
fn log_sql(token: i64, at: i64, kind: i64, model: &str, n: [i64; 4]) -> String {
    let [quota, p, c, t] = n;
    format!(
        "INSERT INTO logs (user_id, created_at, type, model_name, quota, prompt_tokens, completion_tokens, use_time, token_id, is_stream, content) \
         VALUES (1, {at}, {kind}, '{model}', {quota}, {p}, {c}, {t}, {token}, false, 'x');"
    )
}

async fn seed(backend: Backend) -> Data {
    let env = spawn(backend).await;
    let key = new_key();
    let token = insert_token(&env, NewToken::enabled(1, &key, "tested", now())).await;
    let other = insert_token(&env, NewToken::enabled(2, &new_key(), "other", now())).await;
    let start = MIDNIGHT + 3_333; // not aligned to anything
    let end = start + 3 * 86_400 + 4_444;
    let mut sql = String::new();
    for i in 0..700i64 {
        let at = MIDNIGHT - 86_400 + (i * 1_237) % (6 * 86_400);
        let kind = if i % 9 == 4 {
            [1, 3, 4, 5, 6][(i % 5) as usize]
        } else {
            2
        };
        let tok = if i % 6 == 5 { other } else { token };
        sql += &log_sql(
            tok,
            at,
            kind,
            MODELS[(i % 5) as usize],
            [50 + (i * 31) % 1_000, i % 400, i % 250, i % 7],
        );
    }
    // Logs exactly at the range's first and last second, and just outside it.
    for at in [start, end, start - 1, end + 1] {
        sql += &log_sql(token, at, 2, "edge-model", [10_000, 1, 1, 1]);
    }
    exec(&env, &sql).await;
    let data = Data {
        env,
        key,
        token,
        start,
        end,
    };
    wait_ingested(&data).await;
    data
}

#[derive(QueryableByName)]
struct MaxId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn wait_ingested(d: &Data) {
    let mut nconn = NewapiConn::establish(d.env.newapi.url()).await.unwrap();
    let max: MaxId = with_conn!(&mut nconn, |c| diesel::sql_query(
        "SELECT COALESCE(MAX(id), 0) AS n FROM logs"
    )
    .get_result(c)
    .await
    .unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = d.env.app.db.connect().await;
        let seen: Vec<MaxId> = diesel::sql_query("SELECT max_seen_id AS n FROM usage_ingest_state")
            .load(&mut conn)
            .await
            .unwrap();
        if seen.as_slice().first().is_some_and(|s| s.n >= max.n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(QueryableByName, Debug)]
struct Agg {
    #[diesel(sql_type = diesel::sql_types::Text)]
    k: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    quota: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tokens: i64,
}

/// Raw aggregates over new-api's logs, grouped by `group_expr` (SQL).
async fn raw(
    d: &Data,
    start: i64,
    end: i64,
    group_expr: &str,
) -> BTreeMap<String, (i64, i64, i64)> {
    let int = match d.env.newapi.backend() {
        Backend::Mysql => "SIGNED",
        Backend::Postgres => "BIGINT",
    };
    let text = match d.env.newapi.backend() {
        Backend::Mysql => "CHAR",
        Backend::Postgres => "TEXT",
    };
    let sql = format!(
        "SELECT CAST({group_expr} AS {text}) AS k, CAST(COUNT(*) AS {int}) AS requests, CAST(SUM(quota) AS {int}) AS quota, \
                CAST(SUM(prompt_tokens + completion_tokens) AS {int}) AS tokens \
         FROM logs WHERE token_id = {} AND type = 2 AND created_at BETWEEN {start} AND {end} GROUP BY {group_expr}",
        d.token
    );
    let mut conn = NewapiConn::establish(d.env.newapi.url()).await.unwrap();
    let rows: Vec<Agg> = with_conn!(&mut conn, |c| diesel::sql_query(&sql)
        .load(c)
        .await
        .unwrap());
    rows.into_iter()
        .map(|a| (a.k, (a.requests, a.quota, a.tokens)))
        .collect()
}

async fn get(d: &Data, path: &str) -> reqwest::Response {
    d.env
        .app
        .client
        .get(d.env.app.url(path))
        .bearer_auth(format!("sk-{}", d.key))
        .send()
        .await
        .unwrap()
}

/// The `data` of a 200 answer, read as usage-stats' own type.
async fn ok<T: DeserializeOwned>(d: &Data, path: &str) -> T {
    data_of(&d.env.app, &format!("sk-{}", d.key), path).await
}

fn day_expr(offset: i64) -> String {
    format!("FLOOR((created_at + ({offset})) / 86400)")
}

async fn detail_matches(d: &Data, start: i64, end: i64, tz: &str, offset: i64) {
    let data: Detail = ok(
        d,
        &format!("/api/usage/token/detail?start={start}&end={end}&tz={tz}"),
    )
    .await;
    let all = raw(d, start, end, "1").await;
    let (req, quota, tokens) = all.values().next().copied().unwrap_or_default();
    assert_eq!(data.summary.total_requests, req, "{start}..{end}");
    assert_eq!(data.summary.total_quota, quota);
    assert_eq!(data.summary.total_tokens, tokens);
    let models = raw(d, start, end, "model_name").await;
    let got: BTreeMap<String, (i64, i64, i64)> = data
        .by_model
        .iter()
        .map(|m| (m.model_name.clone(), (m.requests, m.quota, m.tokens)))
        .collect();
    assert_eq!(got, models);
    let days = raw(d, start, end, &day_expr(offset)).await;
    let got_days: BTreeMap<i64, (i64, i64, i64)> = data
        .by_day
        .iter()
        .filter(|p| p.requests > 0)
        .map(|p| {
            let date = chrono::NaiveDate::parse_from_str(&p.date, "%Y-%m-%d").unwrap();
            let day = date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() / 86_400;
            (day, (p.requests, p.quota, p.tokens))
        })
        .collect();
    let want_days: BTreeMap<i64, (i64, i64, i64)> = days
        .into_iter()
        .map(|(k, v)| (k.parse::<f64>().unwrap() as i64, v))
        .collect();
    assert_eq!(got_days, want_days, "by_day at {tz}");
    // Contiguous and zero-filled: one entry per local day from start to end.
    let span = (end + offset).div_euclid(86_400) - (start + offset).div_euclid(86_400) + 1;
    assert_eq!(data.by_day.len() as i64, span);
    assert_eq!(data.recent_logs.len() as i64, req.min(20));
    let times: Vec<i64> = data.recent_logs.iter().map(|l| l.created_at).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(times.iter().all(|t| (start..=end).contains(t)));
}

async fn figures_equal_raw_sql(backend: Backend) {
    let d = seed(backend).await;
    detail_matches(&d, d.start, d.end, "%2B00:00", 0).await;
    detail_matches(&d, d.start, d.end, "%2B08:00", 8 * 3600).await;
    detail_matches(&d, d.start, d.end, "%2B05:30", 5 * 3600 + 1800).await;
    detail_matches(&d, d.start, d.end, "-03:00", -3 * 3600).await;
    // Over midnight in a non-UTC zone, a single second, and an empty range.
    detail_matches(
        &d,
        MIDNIGHT + 86_400 - 7_200,
        MIDNIGHT + 86_400 + 7_200,
        "%2B01:00",
        3600,
    )
    .await;
    detail_matches(&d, d.start, d.start, "", 0).await;
    detail_matches(&d, MIDNIGHT + 40 * 86_400, MIDNIGHT + 41 * 86_400, "", 0).await;
    // The rows exactly at start and end count; the ones a second outside do not.
    let edge: Detail = ok(
        &d,
        &format!("/api/usage/token/detail?start={}&end={}", d.start, d.end),
    )
    .await;
    let edge_model = edge
        .by_model
        .iter()
        .find(|m| m.model_name == "edge-model")
        .unwrap();
    assert_eq!(edge_model.requests, 2);
}

async fn chart_and_logs_equal_raw_sql(backend: Backend) {
    let d = seed(backend).await;
    let (s, e) = (d.start, d.start + 2 * 86_400);
    let chart: Chart = ok(
        &d,
        &format!("/api/usage/token/chart?start={s}&end={e}&granularity=hour&tz=%2B05:30"),
    )
    .await;
    let points = &chart.points;
    let off = 5 * 3600 + 1800;
    assert_eq!(
        points.len() as i64,
        (e + off).div_euclid(3600) - (s + off).div_euclid(3600) + 1
    );
    let hours = raw(&d, s, e, &format!("FLOOR((created_at + {off}) / 3600)")).await;
    let got: BTreeMap<i64, i64> = points
        .iter()
        .filter(|p| p.requests > 0)
        .map(|p| ((p.start + off) / 3600, p.quota))
        .collect();
    let want: BTreeMap<i64, i64> = hours
        .into_iter()
        .map(|(k, v)| (k.parse::<f64>().unwrap() as i64, v.1))
        .collect();
    assert_eq!(got, want);

    let total = raw(&d, d.start, d.end, "model_name").await;
    let gpt = total.get("gpt-4o").unwrap().0;
    let page: LogsPage = ok(
        &d,
        &format!(
            "/api/usage/token/logs?start={}&end={}&model=gpt-4o&page=2&page_size=7",
            d.start, d.end
        ),
    )
    .await;
    assert_eq!(page.total, gpt);
    assert_eq!(page.items.len() as i64, (gpt - 7).clamp(0, 7));
    assert!(page.items.iter().all(|l| l.model_name == "gpt-4o"));
    let all: LogsPage = ok(
        &d,
        &format!(
            "/api/usage/token/logs?start={}&end={}&page_size=100",
            d.start, d.end
        ),
    )
    .await;
    let requests: i64 = total.values().map(|v| v.0).sum();
    assert_eq!(all.total, requests);
}

/// Regression: an hourly chart over whole UTC days used to put each day's totals in its
/// midnight hour (day rollups were grouped by hour). Every hour must equal the raw rows.
async fn hourly_chart_over_whole_utc_days_equals_raw_sql(backend: Backend) {
    let d = seed(backend).await;
    let (s, e) = (d.start, d.end); // 3 days and more, neither end hour-aligned
    for tz in ["", "UTC", "Europe/London"] {
        let chart: Chart = ok(
            &d,
            &format!("/api/usage/token/chart?start={s}&end={e}&granularity=hour&tz={tz}"),
        )
        .await;
        let points = &chart.points;
        // London is on GMT (+00:00) in late November: the same hours as UTC.
        assert_eq!(points.len() as i64, (e / 3600) - (s / 3600) + 1, "{tz}");
        let want: BTreeMap<i64, (i64, i64, i64)> = raw(&d, s, e, "FLOOR(created_at / 3600)")
            .await
            .into_iter()
            .map(|(k, v)| (k.parse::<f64>().unwrap() as i64 * 3600, v))
            .collect();
        let got: BTreeMap<i64, (i64, i64, i64)> = points
            .iter()
            .filter(|p| p.requests > 0)
            .map(|p| (p.start, (p.requests, p.quota, p.tokens)))
            .collect();
        assert!(want.len() > 40, "the data covers many hours");
        assert_eq!(got, want, "tz={tz}");
        let want_tz = if tz.is_empty() { "UTC" } else { tz };
        assert_eq!(chart.range.tz, want_tz);
    }
}

async fn bad_input_is_400(backend: Backend) {
    let d = seed(backend).await;
    for q in [
        "detail?start=abc",
        "detail?start=-5",
        "detail?end=1.5",
        "detail?start=100&end=99",
        "detail?start=0&end=31708801",
        "detail?tz=%2B08:10",
        "detail?tz=Mars/Olympus",
        "chart?tz=asia/shanghai",
        "logs?tz=%2B99:00",
        "logs.csv?tz=Mars/Olympus",
        "logs.csv?start=9&end=1",
        "chart?granularity=week",
        "chart?start=0&end=2764800&granularity=hour",
        "logs?page=0",
        "logs?page_size=101",
        "logs?page=x",
        "chart?start=9223372036854775807&end=9223372036854775807&granularity=hour",
        "detail?end=253402300800",
    ] {
        let res = get(&d, &format!("/api/usage/token/{q}")).await;
        assert_eq!(error_code(res, 400).await, "invalid_query", "{q}");
    }
    for path in ["detail", "chart", "logs", "logs.csv"] {
        let res = d
            .env
            .app
            .client
            .get(d.env.app.url(&format!("/api/usage/token/{path}")))
            .bearer_auth("sk-nope")
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res, 401).await, "unauthorized", "{path}");
    }
    // The last accepted second draws its one hour (it once walked the calendar forever).
    let last: Chart = ok(
        &d,
        "/api/usage/token/chart?start=253402300799&end=253402300799&granularity=hour&tz=Asia/Kathmandu",
    )
    .await;
    assert_eq!(last.points.len(), 1, "{last:?}");
}

async fn new_logs_show_within_two_seconds(backend: Backend) {
    let d = seed(backend).await;
    let before = ok::<Detail>(&d, "/api/usage/token/detail")
        .await
        .summary
        .total_requests;
    exec(
        &d.env,
        &log_sql(d.token, now(), 2, "fresh-model", [42, 1, 1, 1]),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let body: Detail = ok(&d, "/api/usage/token/detail").await;
        let after = body.summary.total_requests;
        let recent_fresh =
            matches!(body.recent_logs.as_slice(), [l, ..] if l.model_name == "fresh-model");
        if after == before + 1 && recent_fresh {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not visible within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A cached answer for a past range is replaced as soon as a log of it is ingested, even one
/// that lands in the middle of the range (committed long after its `created_at`).
async fn cached_answers_follow_new_logs_within_two_seconds(backend: Backend) {
    let d = seed(backend).await;
    let (s, e) = (d.start, d.end);
    let detail = format!("/api/usage/token/detail?start={s}&end={e}");
    let logs = format!("/api/usage/token/logs?start={s}&end={e}&model=late-model");
    let chart = format!("/api/usage/token/chart?start={s}&end={e}&granularity=day");
    let before = ok::<Detail>(&d, &detail).await.summary;
    // Asked twice: the second answer comes from the cache and is the same.
    assert_eq!(ok::<Detail>(&d, &detail).await.summary, before);
    assert_eq!(ok::<LogsPage>(&d, &logs).await.total, 0);
    let chart_before = ok::<Chart>(&d, &chart).await.points;
    // Another token's log does not change this key's answers.
    let other = insert_token(&d.env, NewToken::enabled(3, &new_key(), "third", now())).await;
    exec(
        &d.env,
        &log_sql(
            other,
            MIDNIGHT + 86_400 + 600,
            2,
            "late-model",
            [5, 1, 1, 1],
        ),
    )
    .await;
    let late_at = MIDNIGHT + 86_400 + 777; // inside a whole-day rollup of the range
    exec(
        &d.env,
        &log_sql(d.token, late_at, 2, "late-model", [1_234, 5, 6, 1]),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let now_summary = ok::<Detail>(&d, &detail).await.summary;
        if now_summary.total_requests == before.total_requests + 1 {
            assert_eq!(now_summary.total_quota, before.total_quota + 1_234);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late log did not show within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page: LogsPage = ok(&d, &logs).await;
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].created_at, late_at);
    let chart_after = ok::<Chart>(&d, &chart).await.points;
    let day = |pts: &[ChartPoint]| -> i64 {
        pts.iter()
            .find(|p| p.start == MIDNIGHT + 86_400)
            .unwrap()
            .quota
    };
    assert_eq!(day(&chart_after), day(&chart_before) + 1_234);
    detail_matches(&d, s, e, "%2B00:00", 0).await;
}

on_both_backends!(
    figures_equal_raw_sql,
    hourly_chart_over_whole_utc_days_equals_raw_sql,
    cached_answers_follow_new_logs_within_two_seconds,
    chart_and_logs_equal_raw_sql,
    bad_input_is_400,
    new_logs_show_within_two_seconds,
);
