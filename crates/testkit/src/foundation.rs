//! Checks every service binary must pass (the foundation contract), shared so each
//! service's `tests/it/foundation.rs` runs them against its own app and binary.

use std::future::Future;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tollgate_web::Application;

use crate::{TestApp, TestDb};

/// `/health` 200, `/ready` 200 with Postgres ok, `/metrics` counting both per route,
/// unknown routes as JSON 404.
pub async fn health_ready_and_metrics(app: &TestApp, metric_prefix: &str) {
    let res = app.get("/health").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    let res = app.get("/ready").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["checks"]["postgres"],
        "ok"
    );
    let res = app.get("/no/such/route").await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let health = format!(
        "{metric_prefix}_http_requests_total{{endpoint=\"/health\",method=\"GET\",status=\"200\"}} 1"
    );
    assert!(text.contains(&health), "missing {health} in\n{text}");
    assert!(text.contains(&format!(
        "{metric_prefix}_http_requests_duration_seconds_bucket{{endpoint=\"/ready\""
    )));
}

/// `/ready` turns 503 once the service's database is gone, while `/health` stays 200.
pub async fn ready_fails_when_postgres_is_gone(app: &TestApp) {
    assert_eq!(app.get("/ready").await.status(), 200);
    app.db.drop_now().await;
    let res = app.get("/ready").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    assert_ne!(body["checks"]["postgres"], "ok");
    assert_eq!(app.get("/health").await.status(), 200);
}

/// Building the service against an unmigrated database fails, saying how to migrate.
pub async fn refuses_unmigrated_database<F, Fut>(service: &str, build: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    let db = TestDb::empty().await;
    let err = match build(db.url().to_owned()).await {
        Ok(_) => panic!("{service} started against an unmigrated database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(&format!("run `{service} migrate`")), "{err}");
}

fn run_binary(bin: &str, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run service binary");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

/// Missing or malformed required settings stop the binary with exit code 2 and one line
/// naming the setting (and never echoing a secret).
pub fn config_errors_stop_the_binary(bin: &str, service: &str) {
    let good_db = "postgres://user:hunter2@127.0.0.1:5432/tollgate";
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("ADMIN_TOKEN", "t")],
            "missing required setting DATABASE_URL",
        ),
        (
            &[("DATABASE_URL", good_db)],
            "missing required setting ADMIN_TOKEN",
        ),
        (
            &[
                ("DATABASE_URL", "mysql://u:hunter2@h/db"),
                ("ADMIN_TOKEN", "t"),
            ],
            "invalid setting DATABASE_URL",
        ),
        (
            &[
                ("DATABASE_URL", "::not a url hunter2"),
                ("ADMIN_TOKEN", "t"),
            ],
            "invalid setting DATABASE_URL",
        ),
        (
            &[
                ("DATABASE_URL", good_db),
                ("ADMIN_TOKEN", "t"),
                ("PORT", "http"),
            ],
            "invalid setting PORT",
        ),
    ];
    for (env, expected) in cases {
        let (code, stderr) = run_binary(bin, env, &[]);
        assert_eq!(code, 2, "{env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{env:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{service}: {expected}")),
            "{env:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "secret echoed: {stderr}");
    }
    let (code, stderr) = run_binary(bin, &[], &["bogus"]);
    assert_eq!(code, 2, "{stderr}");
}

/// `<bin> migrate` migrates a fresh database (twice is harmless) with only the common
/// settings; the binary then serves `/health` and `/ready` (given `serve_env` too) and
/// exits 0 on SIGTERM.
pub async fn migrate_serve_and_stop(bin: &str, serve_env: &[(&str, &str)]) {
    let db = TestDb::empty().await;
    let env = [
        ("DATABASE_URL", db.url()),
        ("ADMIN_TOKEN", "t"),
        ("LOG_FORMAT", "json"),
    ];
    for _ in 0..2 {
        let (code, stderr) = run_binary(bin, &env, &["migrate"]);
        assert_eq!(code, 0, "{stderr}");
    }
    let port = crate::free_listener()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut child = tokio::process::Command::new(bin)
        .env_clear()
        .envs(env)
        .envs(serve_env.iter().copied())
        .env("PORT", &port)
        .env("HOST", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start service binary");
    let base = format!("http://127.0.0.1:{port}");
    crate::wait_until_up(&format!("{base}/ready"), Duration::from_secs(20))
        .await
        .expect("binary serves /ready");
    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
