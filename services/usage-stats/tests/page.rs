//! The usage page, served by the service, rendered in headless Chromium (Debian's
//! `chromium`; `CHROMIUM_BIN` overrides) against real data; a screenshot is kept in
//! `target/test-artifacts/usage-page.png`.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;
use tollgate_newapi_schema::{Backend, NewToken};
use tollgate_testkit::chromium::{artifacts_dir, run_chromium};

#[tokio::test]
async fn the_usage_page_shows_real_charts_and_logs_in_chromium() {
    let env = spawn(Backend::Postgres).await;
    let key = new_key();
    let token = insert_token(&env, NewToken::enabled(1, &key, "page", now())).await;
    let mut sql = String::new();
    for i in 0..40i64 {
        let model = ["gpt-4o", "claude-3-5-sonnet", "deepseek-chat"][(i % 3) as usize];
        sql += &format!(
            "INSERT INTO logs (user_id, created_at, type, model_name, quota, prompt_tokens, completion_tokens, use_time, token_id) \
             VALUES (1, {}, 2, '{model}', {}, 100, 50, 2, {token});",
            now() - i * 20_000,
            2_500 + i * 10
        );
    }
    newapi_exec(&env, &sql).await;
    // Wait until the ingest has indexed the newest log (the page lists the latest ones).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = env
            .app
            .client
            .get(env.app.url("/api/usage/token/detail"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["data"]["recent_logs"]
            .as_array()
            .is_some_and(|l| l.len() == 20)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let url = format!("{}/usage#key=sk-{key}", env.app.base_url);
    let dom = run_chromium("1280,1100", &["--dump-dom"], &url).await;
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.contains("data-state=\"loaded\""),
        "page did not load the figures:\n{dom}"
    );
    assert!(
        dom.contains("<span id=\"requests\" class=\"value\">40</span>"),
        "{dom}"
    );
    for model in ["gpt-4o", "claude-3-5-sonnet", "deepseek-chat"] {
        assert!(dom.contains(&format!("<td>{model}</td>")), "no {model} row");
    }
    assert!(!dom.contains(&key), "the key must not stay in the page");

    let shot = artifacts_dir().join("usage-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = run_chromium(
        "1280,1100",
        &[&format!("--screenshot={}", shot.display())],
        &url,
    )
    .await;
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot missing or blank ({size} bytes): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let env = spawn(Backend::Postgres).await;
    let res = env.app.get("/usage").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("/usage/chart.umd.min.js"));
    for (file, needle) in [
        ("usage.js", "getJson"),
        ("usage.css", ".cards"),
        ("chart.umd.min.js", "Chart.js v4"),
    ] {
        let res = env.app.get(&format!("/usage/{file}")).await;
        assert_eq!(res.status(), 200, "{file}");
        assert!(res.text().await.unwrap().contains(needle), "{file}");
    }
    let res = env.app.get("/usage/../Cargo.toml").await;
    assert_eq!(res.status(), 404);
    let res = env.app.get("/usage/secrets.env").await;
    assert_eq!(res.status(), 404);
}
