//! `/api/usage/user/*`: a signed-in user's usage over all their keys, learned from the real
//! key-sync (which pushed the keys to the new-api simulator), equal to SQL over the raw logs;
//! bad input, foreign keys and a missing or lying key-sync never show another user's data.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use jsonwebtoken::{encode, EncodingKey, Header};
use key_sync::handlers::views::{OwnerKey, OwnerKeyList};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use support::*;
use tollgate_domain::user_keys::UserKeys;
use tollgate_newapi_schema::Backend;
use tollgate_testkit::clickhouse::ChDb;
use tollgate_testkit::{
    answer, common_settings, error_code, newapi_sim, NewapiSim, TestApp, NEWAPI_ADMIN_TOKEN,
};
use usage_stats::query::views::{Chart, LogsPage, UserDetail};

const JWT_SECRET: &str = "user-view-jwt-secret-with-32-characters!";
const INTERNAL_TOKEN: &str = "user-view-internal-token";
const WEBHOOK_SECRET: &str = "user-view-webhook-secret";

fn jwt(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn user_jwt(sub: &str) -> String {
    jwt(json!({"sub": sub, "aud": "authenticated", "exp": now() + 600}))
}

fn key_sync_settings(db: &str, newapi: &str) -> key_sync::settings::Settings {
    key_sync::settings::Settings::new(
        common_settings(db),
        key_sync::settings::KeySyncSettings {
            newapi_sync_mode: None,
            newapi_base_url: newapi.into(),
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
            key_encryption_key: "dG9sbGdhdGUtbG9jYWwtZGVtby1rZXktMzItYnl0ZXM=".into(),
            newapi_timeout_ms: 5_000,
            sync_interval_ms: 50,
            sync_batch_size: 50,
            sync_backoff_base_ms: 50,
            sync_backoff_cap_ms: 300,
            max_keys_per_user: 5,
            reconcile_interval_secs: 0,
            jwks_cache_secs: 600,
            internal_token: Some(INTERNAL_TOKEN.into()),
        },
    )
    .unwrap()
}

async fn usage_stats_against(newapi_db: &str, key_sync_url: Option<String>) -> TestApp {
    usage_stats_with_logs(newapi_db, None, key_sync_url).await
}

/// usage-stats reading `tokens` from `newapi_db` and `logs` from `logs_url` (a ClickHouse
/// URL) when given.
async fn usage_stats_with_logs(
    newapi_db: &str,
    logs_url: Option<String>,
    key_sync_url: Option<String>,
) -> TestApp {
    let url = newapi_db.to_owned();
    TestApp::spawn(|db| async move {
        let mut s = settings(&db, &url, 100);
        s.usage.newapi_log_database_url = logs_url.map(Into::into);
        s.usage.key_sync_url = key_sync_url;
        s.usage.internal_token = Some(INTERNAL_TOKEN.into());
        s.usage.supabase_jwt_secret = Some(JWT_SECRET.into());
        usage_stats::startup::build(s).await
    })
    .await
    .expect("usage-stats starts")
}

struct World {
    usage: TestApp,
    key_sync: TestApp,
    sim: NewapiSim,
}

async fn world(backend: Backend) -> World {
    let sim = newapi_sim(backend).await;
    let base = sim.base_url();
    let key_sync = TestApp::spawn(|db| async move {
        key_sync::startup::build(key_sync_settings(&db, &base)).await
    })
    .await
    .unwrap();
    let usage = usage_stats_against(sim.db.url(), Some(key_sync.base_url.clone())).await;
    World {
        usage,
        key_sync,
        sim,
    }
}

/// A user signed up through key-sync's webhook, with `extra` named keys; returns the keys
/// as key-sync shows them to their owner.
async fn user_with_keys(w: &World, extra: &[&str]) -> (String, Vec<OwnerKey>) {
    let user = uuid::Uuid::new_v4().to_string();
    let res = w
        .key_sync
        .client
        .post(w.key_sync.url("/webhooks/supabase/users"))
        .bearer_auth(WEBHOOK_SECRET)
        .json(
            &json!({"type": "INSERT", "table": "users", "schema": "auth",
                      "record": {"id": user, "email": "u@example.com"}, "old_record": null}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for name in extra {
        let res = w
            .key_sync
            .client
            .post(w.key_sync.url("/v1/keys"))
            .bearer_auth(user_jwt(&user))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = w
        .key_sync
        .client
        .get(w.key_sync.url("/v1/keys"))
        .bearer_auth(user_jwt(&user))
        .send()
        .await
        .unwrap();
    let keys = answer::<OwnerKeyList>(res, 200).await.keys;
    assert!(keys.iter().all(|k| k.sync.newapi_token_id.is_some()));
    (user, keys)
}

fn token_of(key: &OwnerKey) -> i64 {
    key.sync.newapi_token_id.unwrap()
}

async fn get(app: &TestApp, auth: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(a) = auth {
        req = req.bearer_auth(a);
    }
    req.send().await.unwrap()
}

/// The `data` of a 200 answer, read as usage-stats' own type.
async fn ok<T: DeserializeOwned>(app: &TestApp, auth: &str, path: &str) -> T {
    data_of(app, auth, path).await
}

/// Per token: requests, quota, tokens (SQL over the raw rows).
async fn sql_per_token(w: &World, tokens: &[i64], start: i64, end: i64) -> BTreeMap<i64, [i64; 3]> {
    let mut out = BTreeMap::new();
    let conn_url = w.sim.db.url();
    let rows = raw_logs(conn_url).await;
    for r in rows {
        if tokens.contains(&r.token_id) && r.kind == 2 && (start..=end).contains(&r.created_at) {
            let e: &mut [i64; 3] = out.entry(r.token_id).or_default();
            e[0] += 1;
            e[1] += r.quota;
            e[2] += r.prompt_tokens + r.completion_tokens;
        }
    }
    out
}

async fn wait_ingested(w: &World, user: &str, want_requests: i64, start: i64, end: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body: UserDetail = ok(
            &w.usage,
            &user_jwt(user),
            &format!("/api/usage/user/detail?start={start}&end={end}"),
        )
        .await;
        if body.detail.summary.total_requests == want_requests {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_users_view_sums_all_their_keys_and_only_theirs(backend: Backend) {
    let w = world(backend).await;
    let (user, keys) = user_with_keys(&w, &["ci", "laptop"]).await;
    let (stranger, strangers_keys) = user_with_keys(&w, &[]).await;
    let tokens: Vec<i64> = keys.iter().map(token_of).collect();
    let foreign = token_of(&strangers_keys[0]);
    let base = now() - 3 * 86_400;
    let mut id = 1_000;
    let mut rows = Vec::new();
    for (i, t) in tokens.iter().chain([&foreign]).enumerate() {
        for j in 0..(15 + 7 * i as i64) {
            id += 1;
            let model = ["gpt-4o", "o3", "deepseek-chat"][(j % 3) as usize];
            rows.push(LogRow::consume(
                id,
                *t,
                base + j * 9_001 + i as i64 * 77,
                model,
                100 + j,
            ));
        }
    }
    // A top-up log of the user's key counts nowhere.
    rows.push(LogRow {
        kind: 1,
        ..LogRow::consume(id + 1, tokens[0], base + 5, "", 999_999)
    });
    write_logs(w.sim.db.url(), &rows).await;
    let (start, end) = (base + 1_234, now());
    let want = sql_per_token(&w, &tokens, start, end).await;
    let total: i64 = want.values().map(|v| v[0]).sum();
    assert_eq!(want.len(), 3, "every key of the user has logs in the range");
    wait_ingested(&w, &user, total, start, end).await;

    // A key revoked in key-sync still counts: its usage happened.
    let mut ks = AsyncPgConnection::establish(w.key_sync.db.url())
        .await
        .unwrap();
    ks.batch_execute(&format!(
        "UPDATE api_keys SET status = 2, revoked_at = now() WHERE newapi_token_id = {}",
        tokens[2]
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await; // the key list cache (100 ms)

    let me = user_jwt(&user);
    let data: UserDetail = ok(
        &w.usage,
        &me,
        &format!("/api/usage/user/detail?start={start}&end={end}&tz=Europe/London"),
    )
    .await;
    assert_eq!(data.detail.range.tz, "Europe/London");
    let sum = |i: usize| want.values().map(|v| v[i]).sum::<i64>();
    assert_eq!(data.detail.summary.total_requests, sum(0));
    assert_eq!(data.detail.summary.total_quota, sum(1));
    assert_eq!(data.detail.summary.total_tokens, sum(2));
    let listed: Vec<(&str, i64, i64)> = data
        .keys
        .iter()
        .map(|k| {
            let s = &k.summary;
            (k.name.as_str(), s.total_requests, s.total_quota)
        })
        .collect();
    let expected: Vec<(&str, i64, i64)> = keys
        .iter()
        .map(|k| {
            let w = want.get(&token_of(k)).copied().unwrap_or_default();
            (k.name.as_str(), w[0], w[1])
        })
        .collect();
    assert_eq!(listed, expected);
    for (k, o) in data.keys.iter().zip(&keys) {
        assert_eq!(k.key_id, o.id);
        assert_eq!(k.key_hint, o.hint);
    }
    let day_sum: i64 = data.detail.by_day.iter().map(|d| d.quota).sum();
    assert_eq!(day_sum, sum(1));

    // Logs across keys, newest first, each naming its key.
    let page: LogsPage = ok(
        &w.usage,
        &me,
        &format!("/api/usage/user/logs?start={start}&end={end}&page_size=100"),
    )
    .await;
    assert_eq!(page.total, sum(0));
    let items = &page.items;
    assert_eq!(items.len() as i64, sum(0).min(100));
    let by_token: BTreeMap<i64, &OwnerKey> = keys.iter().map(|k| (token_of(k), k)).collect();
    let raw = raw_logs(w.sim.db.url()).await;
    for item in items {
        let row = raw.iter().find(|r| r.id == item.id).unwrap();
        let key = by_token.get(&row.token_id).expect("one of the user's keys");
        assert_eq!(item.key_id, Some(key.id));
        assert_eq!(item.key_name.as_ref(), Some(&key.name));
    }
    let times: Vec<i64> = items.iter().map(|i| i.created_at).collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]));

    // The export: every row, each naming its key.
    let res = get(
        &w.usage,
        Some(&me),
        &format!("/api/usage/user/logs.csv?start={start}&end={end}&tz=Asia/Kathmandu"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"usage-"),
        "{disposition}"
    );
    let text = res.text().await.unwrap();
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        lines.next(),
        Some("created_at,model_name,prompt_tokens,completion_tokens,quota,cost_usd,use_time_s,key_name")
    );
    let mut per_key: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 8, "{line}");
        assert!(cols[0].ends_with("+05:45"), "{line}");
        let e = per_key.entry(cols[7].to_owned()).or_default();
        e.0 += 1;
        e.1 += cols[4].parse::<i64>().unwrap();
    }
    let want_per_key: BTreeMap<String, (i64, i64)> = keys
        .iter()
        .map(|k| {
            let w = want[&token_of(k)];
            (k.name.clone(), (w[0], w[1]))
        })
        .collect();
    assert_eq!(per_key, want_per_key);

    // One key only, by its id.
    let laptop = &keys[2];
    let one: Chart = ok(
        &w.usage,
        &me,
        &format!(
            "/api/usage/user/chart?start={start}&end={end}&granularity=hour&key_id={}",
            laptop.id
        ),
    )
    .await;
    let charted: i64 = one.points.iter().map(|p| p.requests).sum();
    assert_eq!(charted, want[&token_of(laptop)][0]);

    // The stranger sees only their own key.
    let theirs: UserDetail = ok(
        &w.usage,
        &user_jwt(&stranger),
        &format!("/api/usage/user/detail?start={start}&end={end}"),
    )
    .await;
    let foreign_want = sql_per_token(&w, &[foreign], start, end).await;
    assert_eq!(
        theirs.detail.summary.total_requests,
        foreign_want[&foreign][0]
    );
    assert_eq!(theirs.keys.len(), 1);
}

async fn bad_input_foreign_keys_and_bad_tokens(backend: Backend) {
    let w = world(backend).await;
    let (user, _) = user_with_keys(&w, &[]).await;
    let (_, strangers) = user_with_keys(&w, &[]).await;
    let me = user_jwt(&user);
    let foreign = strangers[0].id;
    let unknown = uuid::Uuid::new_v4();
    for (path, status, code) in [
        (format!("detail?key_id={foreign}"), 404, "not_found"),
        (format!("logs?key_id={unknown}"), 404, "not_found"),
        ("chart?key_id=not-a-uuid".into(), 400, "invalid_query"),
        ("detail?tz=Mars/Olympus".into(), 400, "invalid_query"),
        ("detail?start=10&end=5".into(), 400, "invalid_query"),
        ("logs?page=0".into(), 400, "invalid_query"),
        (format!("logs.csv?key_id={foreign}"), 404, "not_found"),
        ("logs.csv?tz=%2B08:10".into(), 400, "invalid_query"),
    ] {
        let res = get(&w.usage, Some(&me), &format!("/api/usage/user/{path}")).await;
        assert_eq!(error_code(res, status).await, code, "{path}");
    }
    let t = now();
    let expired = jwt(json!({"sub": user, "aud": "authenticated", "exp": t - 3_600}));
    let anon = jwt(json!({"sub": user, "aud": "anon", "exp": t + 600}));
    let other_secret = encode(
        &Header::default(),
        &json!({"sub": user, "aud": "authenticated", "exp": t + 600}),
        &EncodingKey::from_secret(b"another-secret-another-secret-12345"),
    )
    .unwrap();
    let sk_key = format!("sk-{}", new_key());
    for auth in [
        None,
        Some(expired.as_str()),
        Some(&anon),
        Some(&other_secret),
        Some(&sk_key),
    ] {
        let res = get(&w.usage, auth, "/api/usage/user/detail").await;
        assert_eq!(error_code(res, 401).await, "unauthorized", "{auth:?}");
    }
}

async fn without_key_sync_the_view_is_503_never_someone_elses(backend: Backend) {
    let w = world(backend).await;
    let (user, _) = user_with_keys(&w, &[]).await;
    // key-sync unreachable (nothing listens there).
    let closed = tollgate_testkit::ClosedPort::new();
    let down = usage_stats_against(w.sim.db.url(), Some(closed.url())).await;
    // Not configured at all.
    let off = usage_stats_against(w.sim.db.url(), None).await;
    // A key-sync that answers with another user's keys.
    let liar = lying_key_sync(&w, &user).await;
    let lied_to = usage_stats_against(w.sim.db.url(), Some(liar)).await;
    for (app, what) in [(&down, "down"), (&off, "off"), (&lied_to, "lying")] {
        for path in ["detail", "chart", "logs", "logs.csv"] {
            let res = get(
                app,
                Some(&user_jwt(&user)),
                &format!("/api/usage/user/{path}"),
            )
            .await;
            assert_eq!(error_code(res, 503).await, "unavailable", "{what} {path}");
        }
    }
}

/// A server at key-sync's internal route that answers every user with `victim`'s keys.
async fn lying_key_sync(w: &World, victim: &str) -> String {
    let res = w
        .key_sync
        .client
        .get(w.key_sync.url(&format!("/internal/users/{victim}/keys")))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    let mut forged: UserKeys = answer(res, 200).await;
    forged.user_id = uuid::Uuid::new_v4();
    let body = serde_json::to_string(&forged).unwrap();
    let listener = tollgate_testkit::free_listener();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = actix_web::HttpServer::new(move || {
        let body = body.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            let body = body.clone();
            async move {
                actix_web::HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body)
            }
        }))
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .run();
    tokio::spawn(server);
    url
}

/// The same view with new-api's logs in ClickHouse: each key's figures, the totals, the
/// pages naming their keys and the export, against the raw ClickHouse rows.
async fn a_users_view_on_clickhouse(backend: Backend) {
    let w = world(backend).await;
    let (user, keys) = user_with_keys(&w, &["ci"]).await;
    let (_, strangers) = user_with_keys(&w, &[]).await;
    let ch = ChDb::create().await;
    let usage = usage_stats_with_logs(
        w.sim.db.url(),
        Some(ch.reader_url()),
        Some(w.key_sync.base_url.clone()),
    )
    .await;
    let base = now() - 2 * 86_400;
    let tokens: Vec<i64> = keys.iter().map(token_of).collect();
    let mut rows = Vec::new();
    for (i, t) in tokens.iter().chain([&token_of(&strangers[0])]).enumerate() {
        for j in 0..(10 + 5 * i as i64) {
            let id = 1_000 * i as i64 + j;
            let model = ["m0", "m1"][(j % 2) as usize];
            rows.push(LogRow::consume(id, *t, base + j * 7_001, model, 100 + j));
        }
    }
    write_clickhouse_logs(&ch, &rows).await;
    let per_token = |t: i64| -> (i64, i64) {
        let mine: Vec<(i64, i64)> = (0..(10
            + 5 * tokens.iter().position(|x| *x == t).unwrap() as i64))
            .map(|j| (1, 100 + j))
            .collect();
        (mine.len() as i64, mine.iter().map(|m| m.1).sum())
    };
    let me = user_jwt(&user);
    let q = format!("start={base}&end={}", now());
    let detail: UserDetail = ok(&usage, &me, &format!("/api/usage/user/detail?{q}")).await;
    let raw = ch
        .query(&format!(
            "SELECT count() AS n, sum(quota) AS q FROM logs WHERE type = 2 AND token_id IN ({}) \
             FORMAT JSONEachRow",
            tokens
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await;
    let raw: serde_json::Value = serde_json::from_str(raw.trim()).unwrap();
    assert_eq!(
        detail.detail.summary.total_requests,
        raw["n"].as_i64().unwrap()
    );
    assert_eq!(
        detail.detail.summary.total_quota,
        raw["q"].as_i64().unwrap()
    );
    for (k, o) in detail.keys.iter().zip(&keys) {
        assert_eq!(k.key_id, o.id);
        let (n, quota) = per_token(token_of(o));
        assert_eq!(
            (k.summary.total_requests, k.summary.total_quota),
            (n, quota),
            "{}",
            k.name
        );
    }
    let page: LogsPage = ok(
        &usage,
        &me,
        &format!("/api/usage/user/logs?{q}&page_size=100"),
    )
    .await;
    assert_eq!(page.total, detail.detail.summary.total_requests);
    assert_eq!(page.items.len() as i64, page.total);
    for item in &page.items {
        let key = keys
            .iter()
            .find(|k| Some(k.id) == item.key_id)
            .unwrap_or_else(|| panic!("{item:?} is not the user's"));
        assert_eq!(item.key_name.as_ref(), Some(&key.name));
    }
    let res = get(&usage, Some(&me), &format!("/api/usage/user/logs.csv?{q}")).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let rows: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .skip(1)
        .collect();
    assert_eq!(rows.len() as i64, page.total);
    assert!(rows
        .iter()
        .all(|r| r.ends_with(",default") || r.ends_with(",ci")));
}

on_both_backends!(
    a_users_view_on_clickhouse,
    a_users_view_sums_all_their_keys_and_only_theirs,
    bad_input_foreign_keys_and_bad_tokens,
    without_key_sync_the_view_is_503_never_someone_elses,
);
