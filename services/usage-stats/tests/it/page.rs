//! The usage page, served by the service, rendered in headless Chromium (Debian's
//! `chromium`; `CHROMIUM_BIN` overrides) against real data; a screenshot is kept in
//! `target/test-artifacts/usage-page.png`.

use crate::support;

use std::time::Duration;

use support::*;
use tollgate_newapi_schema::{Backend, NewToken};
use tollgate_testkit::chromium::{artifacts_dir, run_chromium, run_chromium_with_env};
use usage_stats::query::views::Detail;

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
        let body: Detail = data_of(&env.app, &key, "/api/usage/token/detail").await;
        if body.recent_logs.len() == 20 {
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

/// In a browser whose zone is New York, the page asks in that zone by default, and the
/// repeated hour of the November DST change shows as two different local times.
#[tokio::test]
async fn the_page_reads_in_the_browsers_dst_zone() {
    let env = spawn(Backend::Postgres).await;
    let key = new_key();
    let token = insert_token(&env, NewToken::enabled(1, &key, "dst", now())).await;
    // 2026-11-01T05:30Z is 01:30 EDT; an hour later it is 01:30 EST.
    let (edt, est) = (1_793_511_000_i64, 1_793_514_600_i64);
    let mut sql = String::new();
    for (at, model) in [(edt, "before-the-change"), (est, "after-the-change")] {
        sql += &format!(
            "INSERT INTO logs (user_id, created_at, type, model_name, quota, prompt_tokens, completion_tokens, use_time, token_id) \
             VALUES (1, {at}, 2, '{model}', 5000, 10, 10, 1, {token});"
        );
    }
    newapi_exec(&env, &sql).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let path = format!(
            "/api/usage/token/detail?start={}&end={}",
            edt - 10,
            est + 10
        );
        let body: Detail = data_of(&env.app, &key, &path).await;
        if body.summary.total_requests == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!(
        "{}/usage#key=sk-{key}&start={}&end={}",
        env.app.base_url,
        edt - 86_400,
        est + 86_400
    );
    let out = run_chromium_with_env(
        "1280,1100",
        &["--dump-dom"],
        &url,
        &[("TZ", "America/New_York")],
    )
    .await;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("data-state=\"loaded\""), "{dom}");
    assert!(
        dom.contains("<span id=\"zone-used\">America/New_York</span>"),
        "the browser's zone is the default:\n{dom}"
    );
    assert!(dom.contains("11/1/2026, 1:30:00 AM EDT"), "{dom}");
    assert!(dom.contains("11/1/2026, 1:30:00 AM EST"), "{dom}");
    assert!(dom.contains("id=\"csv\""), "a CSV button");
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
