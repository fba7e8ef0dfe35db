//! The usage page, served by the service, rendered in headless Chromium (Debian's
//! `chromium`; `CHROMIUM_BIN` overrides) against real data; a screenshot is kept in
//! `target/test-artifacts/usage-page.png`.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::*;
use tollgate_newapi_schema::{Backend, NewToken};

fn chromium() -> String {
    std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "chromium".into())
}

/// Headless Chromium with the flags this workplace's closed network needs.
async fn run_chromium(extra: &[&str], url: &str) -> std::process::Output {
    let profile =
        std::env::temp_dir().join(format!("tg-chromium-{}", uuid::Uuid::new_v4().simple()));
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.display()),
        "--virtual-time-budget=15000".into(),
        "--window-size=1280,1100".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.to_owned());
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(chromium())
            .args(&args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished in time")
    .unwrap_or_else(|e| {
        panic!(
            "cannot run {} ({e}); scripts/test.sh installs Debian's chromium",
            chromium()
        )
    });
    let _ = std::fs::remove_dir_all(profile);
    out
}

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
    let dom = run_chromium(&["--dump-dom"], &url).await;
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

    let artifacts = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/test-artifacts"
    ));
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("usage-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = run_chromium(&[&format!("--screenshot={}", shot.display())], &url).await;
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
