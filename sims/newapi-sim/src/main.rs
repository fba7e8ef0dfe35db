//! `newapi-sim`: serve the simulator on `0.0.0.0:$PORT`.
//!
//! Environment: `PORT` (default 3000), `NEWAPI_SIM_DATABASE_URL` (required, `postgres://…`
//! or `mysql://…`), `NEWAPI_ADMIN_TOKEN` (required), `LOG_SQL_DSN` (optional: logs in
//! ClickHouse, `http(s)://user:password@host:8123/?database=db`). A missing or invalid
//! setting prints one line naming it on stderr and exits with code 2.

use std::net::TcpListener;
use std::process::ExitCode;

use newapi_sim::{spawn, SimConfig};
use tollgate_newapi_schema::Backend;

fn setting_error(message: &str) -> ExitCode {
    eprintln!("newapi-sim: {message}");
    ExitCode::from(2)
}

fn required(name: &str) -> Result<String, ExitCode> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        Ok(_) => Err(setting_error(&format!("{name} is empty"))),
        Err(_) => Err(setting_error(&format!("{name} is not set"))),
    }
}

fn config() -> Result<(u16, SimConfig), ExitCode> {
    let port = match std::env::var("PORT") {
        Err(_) => 3000,
        Ok(raw) => raw
            .trim()
            .parse::<u16>()
            .map_err(|_| setting_error("PORT is not a port number (0-65535)"))?,
    };
    let database_url = required("NEWAPI_SIM_DATABASE_URL")?;
    if let Err(e) = Backend::from_url(&database_url) {
        return Err(setting_error(&format!("NEWAPI_SIM_DATABASE_URL: {e}")));
    }
    let admin_token = required("NEWAPI_ADMIN_TOKEN")?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = SimConfig::new(database_url, admin_token);
    config.workers = workers;
    config.pool_size = 16;
    // new-api's own names: REDIS_CONN_STRING turns the token cache on, CRYPTO_SECRET (else
    // SESSION_SECRET) keys it, SYNC_FREQUENCY is its lifetime in seconds.
    if let Ok(url) = std::env::var("REDIS_CONN_STRING") {
        if !url.trim().is_empty() {
            let secret = std::env::var("CRYPTO_SECRET")
                .or_else(|_| std::env::var("SESSION_SECRET"))
                .map_err(|_| {
                    setting_error("REDIS_CONN_STRING needs CRYPTO_SECRET or SESSION_SECRET")
                })?;
            let ttl = match std::env::var("SYNC_FREQUENCY") {
                Err(_) => 60,
                Ok(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| setting_error("SYNC_FREQUENCY is not a number of seconds"))?,
            };
            config.redis = Some(newapi_sim::CacheConfig {
                url,
                crypto_secret: secret,
                ttl: std::time::Duration::from_secs(ttl),
            });
        }
    }
    // new-api's LOG_SQL_DSN, when it names ClickHouse over HTTP.
    if let Ok(dsn) = std::env::var("LOG_SQL_DSN") {
        if !dsn.trim().is_empty() {
            config.clickhouse_logs = Some(dsn);
        }
    }
    Ok((port, config))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (port, config) = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // Before the port is bound: a SIGTERM from here on is a graceful stop.
    let shutdown = sim_faults::serve::Shutdown::install();
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("newapi-sim: cannot listen on 0.0.0.0:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sim = match spawn(config, listener).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("newapi-sim: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    shutdown.wait().await;
    tracing::info!("shutting down");
    sim.stop().await;
    ExitCode::SUCCESS
}
