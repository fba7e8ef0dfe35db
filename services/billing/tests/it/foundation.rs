//! The foundation contract: health, readiness, metrics, config errors, migrations.

use crate::support;

use billing::settings::Settings;
use billing::{startup, SERVICE};
use tollgate_testkit::{common_settings, foundation, kms_sim, TestApp, WEBHOOK_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_billing");

async fn app() -> (TestApp, kms_sim::SimHandle) {
    let kms = kms_sim(None).await;
    let base = kms.base_url().to_owned();
    let app = TestApp::spawn(|db_url| async move {
        // Stripe is not called by these tests; an unroutable base is enough.
        let b = support::billing_settings(&base, "http://127.0.0.1:9");
        startup::build(Settings::new(common_settings(&db_url), b).unwrap()).await
    })
    .await
    .unwrap();
    (app, kms)
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let (app, _kms) = app().await;
    foundation::health_ready_and_metrics(&app, "billing").await;
}

#[tokio::test]
async fn ready_is_503_when_postgres_is_gone() {
    let (app, _kms) = app().await;
    foundation::ready_fails_when_postgres_is_gone(&app).await;
}

#[tokio::test]
async fn ready_is_503_when_the_kms_is_gone() {
    let (app, kms) = app().await;
    assert_eq!(app.get("/ready").await.status(), 200);
    kms.stop().await;
    let r = app.get("/ready").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.to_string().contains("kms"), "{body}");
}

#[tokio::test]
async fn refuses_an_unmigrated_database() {
    foundation::refuses_unmigrated_database(SERVICE, |database_url| async move {
        let b = support::billing_settings("http://127.0.0.1:9", "http://127.0.0.1:9");
        startup::build(Settings::new(common_settings(&database_url), b).unwrap()).await
    })
    .await;
}

#[test]
fn config_errors_stop_the_binary() {
    foundation::config_errors_stop_the_binary(BIN, SERVICE);
}

#[test]
fn billing_settings_are_required_and_checked() {
    let base = [
        ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:5432/x"),
        ("ADMIN_TOKEN", "t"),
        ("KMS_BASE_URL", "http://127.0.0.1:9"),
        ("LITELLM_WEBHOOK_SECRET", "whsecret-hunter3"),
        ("STRIPE_SECRET_KEY", "sk_test_hunter4"),
    ];
    let cases: [(&str, Option<&str>, &str); 6] = [
        (
            "KMS_BASE_URL",
            None,
            "missing required setting KMS_BASE_URL",
        ),
        (
            "LITELLM_WEBHOOK_SECRET",
            None,
            "missing required setting LITELLM_WEBHOOK_SECRET",
        ),
        (
            "STRIPE_SECRET_KEY",
            None,
            "missing required setting STRIPE_SECRET_KEY",
        ),
        (
            "KMS_BASE_URL",
            Some("ftp://x"),
            "invalid setting KMS_BASE_URL",
        ),
        (
            "RECHARGE_FEE_PERCENT",
            Some("150"),
            "invalid setting RECHARGE_FEE_PERCENT",
        ),
        (
            "RECHARGE_CURRENCY",
            Some("dollars"),
            "invalid setting RECHARGE_CURRENCY",
        ),
    ];
    for (name, value, expected) in cases {
        let mut cmd = std::process::Command::new(BIN);
        cmd.env_clear();
        for (k, v) in base {
            if k != name {
                cmd.env(k, v);
            }
        }
        if let Some(v) = value {
            cmd.env(name, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!stderr.contains(secret), "{name} leaked a secret: {stderr}");
        }
    }
}

#[tokio::test]
async fn migrate_then_serve_then_stop_on_sigterm() {
    let kms = kms_sim(None).await;
    foundation::migrate_serve_and_stop(
        BIN,
        &[
            ("KMS_BASE_URL", kms.base_url()),
            ("LITELLM_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_SECRET_KEY", "sk_test_x"),
            ("STRIPE_API_BASE", "http://127.0.0.1:9"),
        ],
    )
    .await;
}

#[test]
fn every_setting_is_in_env_example_and_the_readme() {
    use tollgate_testkit::documented::undocumented;
    let mut missing = undocumented::<billing::settings::BillingSettings>();
    missing.extend(undocumented::<tollgate_web::CommonSettings>());
    assert!(missing.is_empty(), "undocumented settings: {missing:?}");
}

#[test]
fn settings_never_print_a_secret() {
    use tollgate_testkit::{assert_debug_hides, common_settings_with_secrets, COMMON_SECRETS};
    let mut b = support::billing_settings("http://127.0.0.1:1", "http://127.0.0.1:2");
    b.litellm_master_key = Some("master-key-never-printed".into());
    b.litellm_webhook_secret = "webhook-secret-never-printed".into();
    b.litellm_alert_token = Some("alert-token-never-printed".into());
    b.supabase_jwt_secret = Some("jwt-secret-never-printed".into());
    b.stripe_secret_key = "sk_test_never_printed".into();
    b.stripe_webhook_secret = Some("whsec_never_printed".into());
    let settings = Settings::new(common_settings_with_secrets(), b).expect("valid settings");
    let mut secrets = COMMON_SECRETS.to_vec();
    secrets.extend([
        "master-key-never-printed",
        "webhook-secret-never-printed",
        "alert-token-never-printed",
        "jwt-secret-never-printed",
        "sk_test_never_printed",
        "whsec_never_printed",
    ]);
    assert_debug_hides(&settings, &secrets);
}
