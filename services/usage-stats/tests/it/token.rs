//! Key auth like new-api's, and the new-api-compatible `GET /api/usage/token/`.

use crate::support;

use support::*;
use tollgate_newapi_schema::{Backend, NewToken};
use tollgate_testkit::{answer, error_code};
use usage_stats::handlers::token::{TokenUsage, TokenUsageAnswer};

async fn get(env: &Env, auth: Option<&str>) -> reqwest::Response {
    let mut req = env.app.client.get(env.app.url("/api/usage/token/"));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    req.send().await.unwrap()
}

async fn compatible_answer_for_a_good_key(backend: Backend) {
    let env = spawn(backend).await;
    let key = new_key();
    let mut token = NewToken::enabled(7, &key, "my key", now());
    token.remain_quota = 1_500_000;
    token.used_quota = 250_000;
    token.model_limits_enabled = true;
    token.model_limits = "gpt-4o,claude-3-5-sonnet".into();
    insert_token(&env, token).await;
    for auth in [
        format!("Bearer sk-{key}"),
        format!("Bearer {key}"),
        format!("Bearer sk-{key}-3"),
    ] {
        let res = get(&env, Some(&auth)).await;
        let body: TokenUsageAnswer = answer(res, 200).await;
        let want = TokenUsageAnswer {
            code: true,
            message: "ok".into(),
            data: TokenUsage {
                object: "token_usage".into(),
                name: "my key".into(),
                total_granted: 1_750_000,
                total_used: 250_000,
                total_available: 1_500_000,
                unlimited_quota: false,
                model_limits: [("gpt-4o".into(), true), ("claude-3-5-sonnet".into(), true)].into(),
                model_limits_enabled: true,
                expires_at: 0,
                total_granted_usd: 3.5,
                total_used_usd: 0.5,
                total_available_usd: 3.0,
            },
        };
        assert_eq!(body, want, "{auth}");
    }
}

async fn unusable_keys_are_401(backend: Backend) {
    let env = spawn(backend).await;
    let mut keys = Vec::new();
    for (status, expired_time) in [(2, -1), (3, -1), (1, now() - 10)] {
        let key = new_key();
        let mut token = NewToken::enabled(1, &key, "t", now());
        token.status = status;
        token.expired_time = expired_time;
        insert_token(&env, token).await;
        keys.push(key);
    }
    let deleted = new_key();
    let id = insert_token(&env, NewToken::enabled(1, &deleted, "t", now())).await;
    let stamp = match backend {
        Backend::Mysql => "NOW(3)",
        Backend::Postgres => "now()",
    };
    newapi_exec(
        &env,
        &format!("UPDATE tokens SET deleted_at = {stamp} WHERE id = {id}"),
    )
    .await;
    keys.push(deleted);
    // A live key in another case is another key (MySQL compares case-insensitively).
    let live = new_key().to_lowercase();
    insert_token(&env, NewToken::enabled(1, &live, "t", now())).await;
    keys.push(live.to_uppercase());
    keys.push(new_key());
    for key in &keys {
        let res = get(&env, Some(&format!("Bearer sk-{key}"))).await;
        assert_eq!(error_code(res, 401).await, "unauthorized", "{key}");
    }
    for auth in [None, Some("Basic abc"), Some("Bearer "), Some("Bearer sk-")] {
        assert_eq!(get(&env, auth).await.status(), 401, "{auth:?}");
    }
    assert_eq!(
        get(&env, Some(&format!("Bearer sk-{live}"))).await.status(),
        200
    );
}

async fn lookups_are_cached_briefly(backend: Backend) {
    let env = spawn_with_cache(backend, 400).await;
    let key = new_key();
    let id = insert_token(&env, NewToken::enabled(1, &key, "t", now())).await;
    let auth = format!("Bearer sk-{key}");
    assert_eq!(get(&env, Some(&auth)).await.status(), 200);
    newapi_exec(
        &env,
        &format!("UPDATE tokens SET status = 2 WHERE id = {id}"),
    )
    .await;
    // Within the cache's lifetime the answer may be stale; after it, the change shows.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(get(&env, Some(&auth)).await.status(), 401);
}

on_both_backends!(
    compatible_answer_for_a_good_key,
    unusable_keys_are_401,
    lookups_are_cached_briefly,
);
