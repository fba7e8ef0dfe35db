//! Test support for Tollgate's integration tests, crates.io style: every test gets its own
//! freshly migrated Postgres database, cloned from a template that is built once per
//! migration set, and real simulators and localstripe on random ports.
//!
//! Server addresses come from `TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`)
//! and `TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`).

pub mod answers;
mod app;
pub mod chromium;
pub mod clickhouse;
mod closed_port;
pub mod documented;
pub mod foundation;
pub mod openapi;
mod pg;
mod settings;
pub mod sims;
mod stripe;
mod tcp_gate;

pub use answers::{answer, error, error_code};
pub use app::TestApp;
pub use closed_port::ClosedPort;
pub use pg::TestDb;
pub use settings::{
    assert_debug_hides, common_settings, common_settings_with_secrets, ADMIN_TOKEN, COMMON_SECRETS,
};
pub use sims::{
    kms_sim, newapi_db, newapi_db_before_2025_12, newapi_sim, newapi_sim_logging_to, newapi_sim_on,
    newapi_sim_with, NewapiSim, NEWAPI_ADMIN_TOKEN, WEBHOOK_SECRET,
};
pub use stripe::LocalStripe;
pub use tcp_gate::TcpGate;
pub use tollgate_newapi_schema::Backend as NewapiBackend;

use std::net::TcpListener;
use std::time::Duration;

/// The Postgres server tests create their databases on.
pub fn pg_server_url() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The MariaDB/MySQL server tests create new-api databases on.
pub fn mysql_server_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A listener on 127.0.0.1 with a port chosen by the OS.
pub fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A unique lowercase name with `prefix`, usable as a database name.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A client for talking to the app under test (generous timeout; tests set their own).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Poll `url` until it answers 2xx, or fail after `within`.
pub async fn wait_until_up(url: &str, within: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(res) = client.get(url).send().await {
            if res.status().is_success() {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("{url} did not come up within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
