//! CORS for configured origins only, and the per-key rate limit with Retry-After.

use crate::support;

use support::*;
use tollgate_newapi_schema::{Backend, NewToken};
use tollgate_testkit::{error_code, newapi_db, TestApp};

async fn cors_allows_only_configured_origins(backend: Backend) {
    let env = spawn(backend).await;
    let key = new_key();
    insert_token(&env, NewToken::enabled(1, &key, "t", now())).await;
    let url = env.app.url("/api/usage/token/detail");
    let preflight = |origin: &'static str| {
        env.app
            .client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://portal.example.com").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://portal.example.com"
    );
    let denied = preflight("https://evil.example.com").await.unwrap();
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let res = env
        .app
        .client
        .get(&url)
        .header("origin", "https://portal.example.com")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://portal.example.com"
    );
}

async fn keys_over_their_rate_limit_get_429_with_retry_after(backend: Backend) {
    let newapi = newapi_db(backend).await;
    let url = newapi.url().to_owned();
    let app = TestApp::spawn(|db| async move {
        let mut s = settings(&db, &url, 100);
        s.usage.rate_limit_per_min = 5;
        usage_stats::startup::build(s).await
    })
    .await
    .unwrap();
    let env = Env { app, newapi };
    let (a, b) = (new_key(), new_key());
    insert_token(&env, NewToken::enabled(1, &a, "a", now())).await;
    insert_token(&env, NewToken::enabled(1, &b, "b", now())).await;
    let get = |key: String| {
        env.app
            .client
            .get(env.app.url("/api/usage/token/"))
            .bearer_auth(key)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(get(a.clone()).await.unwrap().status(), 200);
    }
    let limited = get(a.clone()).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(error_code(limited, 429).await, "rate_limited");
    assert_eq!(
        get(b.clone()).await.unwrap().status(),
        200,
        "another key is not limited"
    );
    // Unknown keys are refused before they can use anyone's quota.
    assert_eq!(get(new_key()).await.unwrap().status(), 401);
}

on_both_backends!(
    cors_allows_only_configured_origins,
    keys_over_their_rate_limit_get_429_with_retry_after,
);
