//! The foundation contract: health, readiness, metrics, config errors, migrations.

use crate::support;

use key_sync::SERVICE;
use tollgate_testkit::{foundation, TestApp};

async fn build(database_url: String) -> anyhow::Result<tollgate_web::Application> {
    key_sync::startup::build(support::settings(&database_url, "http://127.0.0.1:9")).await
}

const BIN: &str = env!("CARGO_BIN_EXE_key-sync");

const SERVE_ENV: &[(&str, &str)] = &[
    ("NEWAPI_BASE_URL", "http://127.0.0.1:9"),
    ("NEWAPI_ADMIN_TOKEN", "t"),
    ("SUPABASE_WEBHOOK_SECRET", "s"),
    ("SUPABASE_JWT_SECRET", "j"),
    ("KEY_ENCRYPTION_KEY", support::ENCRYPTION_KEY),
];

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::spawn(build).await.unwrap();
    foundation::health_ready_and_metrics(&app, "key_sync").await;
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
    foundation::migrate_serve_and_stop(BIN, SERVE_ENV).await;
}

fn run(env: &[(&str, &str)]) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[test]
fn key_sync_settings_are_required_and_validated() {
    let base: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", "postgres://u:p@127.0.0.1:5432/x"),
        ("ADMIN_TOKEN", "a"),
    ];
    let with = |overrides: &[(&'static str, &'static str)], drop: &str| {
        let mut env: Vec<(&str, &str)> = base.iter().chain(SERVE_ENV).copied().collect();
        env.retain(|(k, _)| *k != drop && !overrides.iter().any(|(o, _)| o == k));
        env.extend_from_slice(overrides);
        env
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            with(&[], "NEWAPI_BASE_URL"),
            "missing required setting NEWAPI_BASE_URL",
        ),
        (
            with(&[], "KEY_ENCRYPTION_KEY"),
            "missing required setting KEY_ENCRYPTION_KEY",
        ),
        (
            with(&[("KEY_ENCRYPTION_KEY", "c2hvcnQ=")], ""),
            "invalid setting KEY_ENCRYPTION_KEY",
        ),
        (
            with(&[("NEWAPI_BASE_URL", "ftp://x")], ""),
            "invalid setting NEWAPI_BASE_URL",
        ),
        (
            with(&[], "SUPABASE_JWT_SECRET"),
            "missing required setting SUPABASE_JWT_SECRET or SUPABASE_URL",
        ),
        (
            with(&[], "SUPABASE_WEBHOOK_SECRET"),
            "missing required setting SUPABASE_WEBHOOK_SECRET",
        ),
        (
            with(&[("NEWAPI_SYNC_MODE", "sideways")], ""),
            "invalid setting NEWAPI_SYNC_MODE",
        ),
        (
            with(&[("NEWAPI_SYNC_MODE", "database")], "NEWAPI_BASE_URL"),
            "missing required setting NEWAPI_DATABASE_URL",
        ),
        (
            with(
                &[
                    ("NEWAPI_SYNC_MODE", "database"),
                    ("NEWAPI_DATABASE_URL", "sqlite://new-api.db"),
                ],
                "",
            ),
            "invalid setting NEWAPI_DATABASE_URL",
        ),
        (
            with(&[("NEWAPI_USER_QUOTA", "2147483648")], ""),
            "invalid setting NEWAPI_USER_QUOTA",
        ),
        (
            with(&[("NEWAPI_REDIS_URL", "redis://127.0.0.1:6379")], ""),
            "invalid setting NEWAPI_REDIS_URL",
        ),
    ];
    for (env, expected) in cases {
        let (code, stderr) = run(&env);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("key-sync: {expected}")),
            "{stderr}"
        );
        assert!(!stderr.contains(support::ENCRYPTION_KEY));
    }
}

#[test]
fn every_setting_is_in_env_example_and_the_readme() {
    use tollgate_testkit::documented::undocumented;
    let missing = undocumented::<key_sync::settings::KeySyncSettings>();
    assert!(missing.is_empty(), "undocumented settings: {missing:?}");
}

#[test]
fn settings_never_print_a_secret() {
    use tollgate_testkit::{assert_debug_hides, common_settings_with_secrets, COMMON_SECRETS};
    let mut s = support::settings("postgres://127.0.0.1/x", "http://127.0.0.1:9");
    s.key_sync.newapi_admin_token = "newapi-admin-never-printed".into();
    s.key_sync.newapi_database_url = Some("mysql://root:newapi-db-never-printed@h/db".into());
    s.key_sync.newapi_redis_url = Some("redis://:redis-password-never-printed@h:6379".into());
    s.key_sync.newapi_crypto_secret = Some("crypto-secret-never-printed".into());
    s.key_sync.supabase_webhook_secret = "webhook-secret-never-printed".into();
    s.key_sync.supabase_jwt_secret = Some("jwt-secret-never-printed".into());
    s.key_sync.internal_token = Some("internal-token-never-printed".into());
    let settings = key_sync::settings::Settings::new(common_settings_with_secrets(), s.key_sync)
        .expect("valid settings");
    let mut secrets = COMMON_SECRETS.to_vec();
    secrets.extend([
        "newapi-admin-never-printed",
        "newapi-db-never-printed",
        "redis-password-never-printed",
        "crypto-secret-never-printed",
        "webhook-secret-never-printed",
        "jwt-secret-never-printed",
        "internal-token-never-printed",
        support::ENCRYPTION_KEY,
    ]);
    assert_debug_hides(&settings, &secrets);
}
