//! The foundation contract: health, readiness, metrics, config errors, migrations.

use crate::support;

use tollgate_testkit::{foundation, TestApp};
use tollgate_web::health::NotReadyAnswer;
use usage_stats::{startup, SERVICE};

/// Any reachable new-api database will do for the foundation checks.
const NEWAPI: &str = "postgres://postgres@127.0.0.1:5432/postgres";

async fn build(database_url: String) -> anyhow::Result<tollgate_web::Application> {
    startup::build(support::settings(&database_url, NEWAPI, 100)).await
}

const BIN: &str = env!("CARGO_BIN_EXE_usage-stats");

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::spawn(build).await.unwrap();
    foundation::health_ready_and_metrics(&app, "usage_stats").await;
}

#[tokio::test]
async fn ready_is_503_when_postgres_is_gone() {
    let app = TestApp::spawn(build).await.unwrap();
    foundation::ready_fails_when_postgres_is_gone(&app).await;
}

#[tokio::test]
async fn refuses_an_unmigrated_database() {
    foundation::refuses_unmigrated_database(SERVICE, build).await;
}

#[test]
fn config_errors_stop_the_binary() {
    foundation::config_errors_stop_the_binary(BIN, SERVICE);
}

#[tokio::test]
async fn migrate_then_serve_then_stop_on_sigterm() {
    foundation::migrate_serve_and_stop(BIN, &[("NEWAPI_DATABASE_URL", NEWAPI)]).await;
}

#[tokio::test]
async fn ready_is_503_when_newapi_database_is_unreachable() {
    let app = TestApp::spawn(|db| async move {
        startup::build(support::settings(
            &db,
            "mysql://root@127.0.0.1:1/newapi",
            100,
        ))
        .await
    })
    .await
    .unwrap();
    let body: NotReadyAnswer = tollgate_testkit::answer(app.get("/ready").await, 503).await;
    assert_eq!(body.error.code, "not_ready");
    assert_eq!(body.checks["postgres"], "ok");
    assert_ne!(body.checks["newapi_db"], "ok");
}

#[test]
fn newapi_database_url_is_required_and_validated() {
    for (env, expected) in [
        (vec![], "missing required setting NEWAPI_DATABASE_URL"),
        (
            vec![("NEWAPI_DATABASE_URL", "sqlite://x.db")],
            "invalid setting NEWAPI_DATABASE_URL",
        ),
    ] {
        let out = std::process::Command::new(BIN)
            .env_clear()
            .envs([
                ("DATABASE_URL", "postgres://127.0.0.1/x"),
                ("ADMIN_TOKEN", "a"),
            ])
            .envs(env)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr
                .trim()
                .starts_with(&format!("usage-stats: {expected}")),
            "{stderr}"
        );
    }
}

#[test]
fn every_setting_is_in_env_example_and_the_readme() {
    use tollgate_testkit::documented::undocumented;
    let missing = undocumented::<usage_stats::settings::UsageSettings>();
    assert!(missing.is_empty(), "undocumented settings: {missing:?}");
}

#[test]
fn settings_never_print_a_secret() {
    use tollgate_testkit::{assert_debug_hides, common_settings_with_secrets, COMMON_SECRETS};
    let mut usage = support::settings(
        "postgres://127.0.0.1/x",
        "mysql://reader:newapi-db-never-printed@127.0.0.1/newapi",
        1_000,
    )
    .usage;
    usage.newapi_log_database_url = Some("postgres://r:log-db-never-printed@h/logs".into());
    usage.key_sync_url = Some("http://127.0.0.1:8081".into());
    usage.internal_token = Some("internal-token-never-printed".into());
    usage.supabase_jwt_secret = Some("jwt-secret-never-printed".into());
    let settings = usage_stats::settings::Settings::new(common_settings_with_secrets(), usage)
        .expect("valid settings");
    let mut secrets = COMMON_SECRETS.to_vec();
    secrets.extend([
        "newapi-db-never-printed",
        "log-db-never-printed",
        "internal-token-never-printed",
        "jwt-secret-never-printed",
    ]);
    assert_debug_hides(&settings, &secrets);
}
