//! new-api's logs in ClickHouse (`NEWAPI_LOG_DATABASE_URL=clickhouse://…`): every endpoint
//! equal to SQL over the raw ClickHouse rows (generated rows across DST changes, late and
//! duplicate-looking rows), new rows seen at once, an outage answered 503 and not with wrong
//! figures, and new-api's native-port DSN refused at start with what to change.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use serde::Deserialize;
use support::*;
use tollgate_domain::zone::Zone;
use tollgate_newapi_schema::{Backend, NewToken};
use tollgate_testkit::clickhouse::{ChDb, ChServer};
use tollgate_testkit::{error_code, newapi_db, newapi_sim_logging_to, TestApp, NEWAPI_ADMIN_TOKEN};
use usage_stats::query::views::{Chart, Detail, LogsPage};

/// 2026-10-24T00:00:00Z: the week holds London's (10-25) and New York's (11-01) fall back.
const T0: i64 = 1_792_800_000;
const MODELS: [&str; 4] = ["gpt-4o", "o3", "deepseek-chat", "claude \"x\", 'y' \\ z"];

/// One row written to ClickHouse.
#[derive(Debug, Clone, Deserialize)]
struct Raw {
    token_id: i64,
    created_at: i64,
    #[serde(rename = "type")]
    kind: i64,
    model_name: String,
    quota: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    use_time: i64,
    request_id: String,
}

struct World {
    app: TestApp,
    ch: ChDb,
    /// The tested key (with `sk-`) and its token id.
    key: String,
    token: i64,
    _newapi: tollgate_newapi_schema::scratch::ScratchDb,
}

/// usage-stats reading `tokens` from `backend` and `logs` from `ch` (as the read-only user).
async fn world_on(backend: Backend, ch: ChDb) -> World {
    let newapi = newapi_db(backend).await;
    let key = new_key();
    let token = insert_token_at(newapi.url(), NewToken::enabled(1, &key, "ch", now())).await;
    insert_token_at(
        newapi.url(),
        NewToken::enabled(1, &new_key(), "other", now()),
    )
    .await;
    let (url, logs) = (newapi.url().to_owned(), ch.reader_url());
    let app = TestApp::spawn(|db| async move {
        let mut s = settings(&db, &url, 100);
        s.usage.newapi_log_database_url = Some(logs.into());
        usage_stats::startup::build(s).await
    })
    .await
    .expect("usage-stats starts on ClickHouse");
    World {
        app,
        ch,
        key: format!("sk-{key}"),
        token,
        _newapi: newapi,
    }
}

async fn world(backend: Backend) -> World {
    world_on(backend, ChDb::create().await).await
}

/// A small deterministic generator (xorshift), so every run writes the same rows.
struct Gen(u64);

impl Gen {
    fn next(&mut self, below: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as i64
    }
}

/// `n` rows over nine days from `T0`: mostly the tested token's consume logs, some of
/// another token, some top-ups; a few share a `request_id` (nothing makes it unique).
fn generated(token: i64, other: i64, n: usize, seed: u64) -> Vec<Raw> {
    let mut g = Gen(seed);
    (0..n)
        .map(|i| {
            let quota = 1 + g.next(5_000);
            Raw {
                token_id: if g.next(10) == 0 { other } else { token },
                created_at: T0 + g.next(9 * 86_400),
                kind: if g.next(12) == 0 { 1 } else { 2 },
                model_name: MODELS[g.next(4) as usize].to_owned(),
                quota,
                prompt_tokens: g.next(900),
                completion_tokens: g.next(700),
                use_time: g.next(30),
                request_id: format!("req-{}", if i % 17 == 0 { 7 } else { i }),
            }
        })
        .collect()
}

/// `INSERT` as new-api does (one statement here per batch).
async fn insert(ch: &ChDb, rows: &[Raw]) {
    for chunk in rows.chunks(1_000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, '', 0)",
                    r.token_id,
                    r.created_at,
                    r.kind,
                    usage_stats::clickhouse::literal(&r.model_name),
                    r.quota,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.use_time,
                    usage_stats::clickhouse::literal(&r.request_id),
                )
            })
            .collect();
        ch.exec(&format!(
            "INSERT INTO logs (token_id, created_at, type, model_name, quota, prompt_tokens, \
             completion_tokens, use_time, request_id, content, id) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
}

/// The raw rows of `token` in `[start, end]` as ClickHouse holds them: consume logs only.
async fn raw(w: &World, start: i64, end: i64) -> Vec<Raw> {
    let text =
        w.ch.query(&format!(
            "SELECT token_id, created_at, type, model_name, quota, prompt_tokens, \
             completion_tokens, use_time, request_id FROM logs \
             WHERE token_id = {} AND type = 2 AND created_at BETWEEN {start} AND {end} \
             FORMAT JSONEachRow",
            w.token
        ))
        .await;
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `[requests, quota, tokens]` per key.
fn sums<K: Ord>(rows: &[Raw], key: impl Fn(&Raw) -> K) -> BTreeMap<K, [i64; 3]> {
    let mut out: BTreeMap<K, [i64; 3]> = BTreeMap::new();
    for r in rows {
        let e = out.entry(key(r)).or_default();
        e[0] += 1;
        e[1] += r.quota;
        e[2] += r.prompt_tokens + r.completion_tokens;
    }
    out
}

/// The `quota` column of a CSV line (the fifth; only the model may hold commas, quoted).
fn csv_quota(line: &str) -> i64 {
    let tail: Vec<&str> = line.rsplitn(4, ',').collect();
    tail[2].parse().unwrap()
}

fn tz_param(tz: &str) -> String {
    tz.replace('+', "%2B")
}

async fn data<T: serde::de::DeserializeOwned>(w: &World, path: &str) -> T {
    data_of(&w.app, &w.key, path).await
}

/// `/detail`, `/chart` (days and hours) and every page of `/logs` for one range and zone,
/// each against the raw rows.
async fn check(w: &World, start: i64, end: i64, tz: &str) {
    let zone = Zone::parse(tz).unwrap();
    let rows = raw(w, start, end).await;
    let q = format!("start={start}&end={end}&tz={}", tz_param(tz));
    let what = format!("{start}..{end} {tz}");

    let detail: Detail = data(w, &format!("/api/usage/token/detail?{q}")).await;
    let all = sums(&rows, |_| ());
    let [req, quota, tokens] = all.get(&()).copied().unwrap_or_default();
    assert_eq!(
        (
            detail.summary.total_requests,
            detail.summary.total_quota,
            detail.summary.total_tokens
        ),
        (req, quota, tokens),
        "{what}"
    );
    let models: BTreeMap<String, [i64; 3]> = detail
        .by_model
        .iter()
        .map(|m| (m.model_name.clone(), [m.requests, m.quota, m.tokens]))
        .collect();
    assert_eq!(models, sums(&rows, |r| r.model_name.clone()), "{what}");
    let day = |r: &Raw| zone.local(r.created_at).date_naive().to_string();
    let days: BTreeMap<String, [i64; 3]> = detail
        .by_day
        .iter()
        .filter(|d| d.requests > 0)
        .map(|d| (d.date.clone(), [d.requests, d.quota, d.tokens]))
        .collect();
    assert_eq!(days, sums(&rows, day), "by_day {what}");
    let newest: Vec<i64> = detail.recent_logs.iter().map(|l| l.created_at).collect();
    let mut times: Vec<i64> = rows.iter().map(|r| r.created_at).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(newest, times[..times.len().min(20)], "recent_logs {what}");

    let chart: Chart = data(w, &format!("/api/usage/token/chart?{q}&granularity=day")).await;
    let charted: BTreeMap<String, [i64; 3]> = chart
        .points
        .iter()
        .filter(|p| p.requests > 0)
        .map(|p| (p.label.clone(), [p.requests, p.quota, p.tokens]))
        .collect();
    assert_eq!(charted, sums(&rows, day), "daily chart {what}");
    if end - start <= 31 * 86_400 {
        let chart: Chart = data(w, &format!("/api/usage/token/chart?{q}&granularity=hour")).await;
        let hour = |r: &Raw| {
            let local = zone.local(r.created_at);
            r.created_at - i64::from(local.minute() * 60 + local.second())
        };
        let charted: BTreeMap<i64, [i64; 3]> = chart
            .points
            .iter()
            .filter(|p| p.requests > 0)
            .map(|p| (p.start, [p.requests, p.quota, p.tokens]))
            .collect();
        assert_eq!(charted, sums(&rows, hour), "hourly chart {what}");
    }

    // Every page, newest first: together exactly the rows.
    let mut paged = Vec::new();
    for page in 1.. {
        let logs: LogsPage = data(
            w,
            &format!("/api/usage/token/logs?{q}&page={page}&page_size=100"),
        )
        .await;
        assert_eq!(logs.total, req, "{what}");
        if logs.items.is_empty() {
            break;
        }
        paged.extend(logs.items);
    }
    let got: Vec<(i64, String, i64)> = paged
        .iter()
        .map(|l| (l.created_at, l.model_name.clone(), l.quota))
        .collect();
    let mut want: Vec<(i64, String, i64)> = rows
        .iter()
        .map(|r| (r.created_at, r.model_name.clone(), r.quota))
        .collect();
    want.sort();
    let mut every = got.clone();
    every.sort();
    assert_eq!(every, want, "logs {what}");
    assert!(
        got.windows(2).all(|p| p[0].0 >= p[1].0),
        "newest first {what}"
    );
    let gpt: LogsPage = data(
        w,
        &format!("/api/usage/token/logs?{q}&model=gpt-4o&page_size=100"),
    )
    .await;
    assert_eq!(
        gpt.total,
        rows.iter().filter(|r| r.model_name == "gpt-4o").count() as i64
    );
    assert!(gpt.items.iter().all(|l| l.model_name == "gpt-4o"));
}

async fn answers_equal_sql_over_the_clickhouse_rows(backend: Backend) {
    let w = world(backend).await;
    let rows = generated(w.token, w.token + 1, 3_000, 0x5eed_c11c);
    insert(&w.ch, &rows).await;
    for (start, end, tz) in [
        (T0 + 123, T0 + 9 * 86_400 - 77, "UTC"),
        (T0 + 123, T0 + 9 * 86_400 - 77, "America/New_York"),
        (T0 + 3_600 * 20 + 7, T0 + 4 * 86_400, "Europe/London"),
        (T0, T0 + 3 * 86_400 + 1, "Asia/Kathmandu"),
        (T0 + 86_400 * 8 + 5, T0 + 86_400 * 8 + 7_200, "+08:00"),
        (T0 - 86_400, T0 - 1, "Asia/Shanghai"),
    ] {
        check(&w, start, end, tz).await;
    }
    // The export: every consume log of the range, newest first, in the zone asked.
    let (start, end) = (T0 + 5, T0 + 6 * 86_400);
    let res = w
        .app
        .client
        .get(w.app.url(&format!(
            "/api/usage/token/logs.csv?start={start}&end={end}&tz=America/New_York"
        )))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let raw_rows = raw(&w, start, end).await;
    assert_eq!(lines.len(), raw_rows.len() + 1);
    let quota: i64 = lines[1..].iter().map(|l| csv_quota(l)).sum();
    assert_eq!(quota, raw_rows.iter().map(|r| r.quota).sum::<i64>());
    assert!(
        text.contains(",\"claude \"\"x\"\", 'y' \\ z\","),
        "quoted as CSV"
    );
}

async fn new_and_late_rows_show_at_once_and_count_once(backend: Backend) {
    let w = world(backend).await;
    let rows = generated(w.token, w.token + 1, 200, 42);
    insert(&w.ch, &rows).await;
    let path = format!("/api/usage/token/detail?start={T0}&end={}", now());
    let before: Detail = data(&w, &path).await;
    // A new row, and a late one with a created_at a week old, each inserted alone.
    let late = Raw {
        created_at: T0 + 3 * 86_400 + 11,
        request_id: "late".into(),
        ..rows[0].clone()
    };
    let fresh = Raw {
        created_at: now() - 1,
        request_id: "fresh".into(),
        kind: 2,
        token_id: w.token,
        ..rows[1].clone()
    };
    let late = Raw {
        kind: 2,
        token_id: w.token,
        ..late
    };
    let inserted = tokio::time::Instant::now();
    insert(&w.ch, std::slice::from_ref(&late)).await;
    insert(&w.ch, std::slice::from_ref(&fresh)).await;
    let after: Detail = data(&w, &path).await;
    assert!(inserted.elapsed() < Duration::from_secs(2));
    assert_eq!(
        after.summary.total_requests,
        before.summary.total_requests + 2
    );
    assert_eq!(
        after.summary.total_quota,
        before.summary.total_quota + late.quota + fresh.quota
    );
    // Asked again: still once each.
    let again: Detail = data(&w, &path).await;
    assert_eq!(again.summary.total_requests, after.summary.total_requests);
}

on_both_backends!(
    answers_equal_sql_over_the_clickhouse_rows,
    new_and_late_rows_show_at_once_and_count_once,
);

/// The whole way: new-api (its simulator, with `LOG_SQL_DSN`) relays a completion and writes
/// its log to ClickHouse; the key's figures show it as soon as the completion is answered.
#[tokio::test]
async fn a_completion_relayed_by_new_api_shows_at_once() {
    let ch = ChDb::create().await;
    let sim = newapi_sim_logging_to(newapi_db(Backend::Postgres).await, &ch).await;
    let key = new_key();
    let res = reqwest::Client::new()
        .post(format!("{}/api/token/import", sim.base_url()))
        .bearer_auth(NEWAPI_ADMIN_TOKEN)
        .json(&serde_json::json!({
            "key": key, "external_user_id": "ch-user", "name": "default", "unlimited_quota": true,
        }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let (url, logs) = (sim.db.url().to_owned(), ch.reader_url());
    let app = TestApp::spawn(|db| async move {
        let mut s = settings(&db, &url, 100);
        s.usage.newapi_log_database_url = Some(logs.into());
        usage_stats::startup::build(s).await
    })
    .await
    .unwrap();
    let path = format!("/api/usage/token/detail?start={}", now() - 60);
    let before: Detail = data_of(&app, &format!("sk-{key}"), &path).await;
    assert_eq!(before.summary.total_requests, 0);
    let res = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .bearer_auth(format!("sk-{key}"))
        .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answered = tokio::time::Instant::now();
    let after: Detail = data_of(&app, &format!("sk-{key}"), &path).await;
    assert!(answered.elapsed() < Duration::from_secs(2));
    assert_eq!(after.summary.total_requests, 1);
    assert_eq!(after.by_model[0].model_name, "gpt-4o-mini");
    assert!(after.summary.total_quota > 0);
    // One row in ClickHouse; the simulator's SQL `logs` stays empty, as new-api's would.
    let raw = ch
        .query("SELECT count() AS n FROM logs FORMAT JSONEachRow")
        .await;
    assert_eq!(raw.trim(), r#"{"n":1}"#);
    let mut conn = tollgate_newapi_schema::NewapiConn::establish(sim.db.url())
        .await
        .unwrap();
    let sql_logs: i64 = tollgate_newapi_schema::with_conn!(&mut conn, |c| {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        tollgate_newapi_schema::schema::logs::table
            .count()
            .get_result(c)
            .await
            .unwrap()
    });
    assert_eq!(sql_logs, 0);
}

#[tokio::test]
async fn an_outage_is_503_and_ready_503_never_wrong_figures() {
    let server = Arc::new(ChServer::start().await);
    let w = world_on(Backend::Postgres, ChDb::create_on(server.clone()).await).await;
    insert(&w.ch, &generated(w.token, w.token + 1, 300, 9)).await;
    let path = format!("/api/usage/token/detail?start={T0}&end={}", T0 + 9 * 86_400);
    let before: Detail = data(&w, &path).await;
    assert_eq!(w.app.get("/ready").await.status(), 200);

    server.pause().await;
    for p in [
        path.clone(),
        format!("/api/usage/token/chart?start={T0}&end={}", T0 + 86_400),
        format!("/api/usage/token/logs?start={T0}&end={}", T0 + 86_400),
    ] {
        let res = w
            .app
            .client
            .get(w.app.url(&p))
            .bearer_auth(&w.key)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res, 503).await, "unavailable", "{p}");
    }
    let res = w
        .app
        .client
        .get(w.app.url(&format!(
            "/api/usage/token/logs.csv?start={T0}&end={}",
            T0 + 86_400
        )))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == 503 || res.text().await.is_err(),
        "an export that cannot be read is not a 200 with a short file"
    );
    let ready = w.app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(
        text.contains("clickhouse") && !text.contains("reader-secret"),
        "{text}"
    );

    server.resume().await;
    let after: Detail = data(&w, &path).await;
    assert_eq!(after.summary, before.summary);
    assert_eq!(w.app.get("/ready").await.status(), 200);
}

#[tokio::test]
async fn new_apis_native_port_dsn_stops_the_start_with_what_to_change() {
    let server = ChServer::start().await;
    let newapi = newapi_db(Backend::Postgres).await;
    let url = newapi.url().to_owned();
    let native = format!(
        "clickhouse://reader:reader-secret@127.0.0.1:{}/default",
        server.tcp_port()
    );
    let started = tokio::time::Instant::now();
    let result = TestApp::spawn(|db| async move {
        let mut s = settings(&db, &url, 100);
        s.usage.newapi_log_database_url = Some(native.into());
        usage_stats::startup::build(s).await
    })
    .await;
    let Err(e) = result else {
        panic!("started against the native port")
    };
    let message = format!("{e:#}");
    assert!(
        message.contains("native port") && message.contains("8123"),
        "{message}"
    );
    assert!(!message.contains("reader-secret"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(15), "no hang");
}
