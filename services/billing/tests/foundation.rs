//! The foundation contract: health, readiness, metrics, config errors, migrations.

use billing::settings::Settings;
use billing::{startup, SERVICE};
use tollgate_testkit::{common_settings, foundation, TestApp};

async fn build(database_url: String) -> anyhow::Result<tollgate_web::Application> {
    startup::build(Settings {
        common: common_settings(&database_url),
    })
    .await
}

const BIN: &str = env!("CARGO_BIN_EXE_billing");

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::spawn(build).await.unwrap();
    foundation::health_ready_and_metrics(&app, "billing").await;
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
    foundation::migrate_serve_and_stop(BIN, &[]).await;
}
