//! A stateful simulator of the parts of the new-api gateway Tollgate talks to, keeping its
//! state in new-api's own tables ([`tollgate_newapi_schema`]) on Postgres or MariaDB.
//!
//! Routes:
//! - `POST /api/token/import`, `/api/token/import/revoke`, `/api/user/import/disable` —
//!   admin bearer token; the import contract of docs/newapi-import.md (a patched new-api);
//! - `GET /v1/models`, `POST /v1/chat/completions` — authenticated with a gateway key as
//!   new-api does; completions are canned but billed: one consume log per call and the
//!   token's `used_quota` grows (see [`pricing`]);
//! - `GET /_sim/stats` — [`SimStats`] counters;
//! - `GET|POST|DELETE /_sim/faults` — run-time fault injection ([`sim_faults`]).
//!
//! Tests start it in-process with [`spawn`]; the `newapi-sim` binary serves it on `PORT`.

#![warn(missing_docs)]

mod auth;
mod clickhouse_logs;
mod import;
pub mod pricing;
mod relay;
mod respond;
mod revoke;
mod state;
mod status;
mod token_cache;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use sim_faults::Faults;
use tokio::sync::oneshot;
use tollgate_newapi_schema::{create_tables, Backend, NewapiPool};

pub use state::SimStats;

use crate::clickhouse_logs::ClickHouseLogs;
use crate::state::{AppState, Counters};
use crate::token_cache::TokenCache;

/// How to run a simulator.
#[derive(Clone)]
pub struct SimConfig {
    /// new-api database: `postgres://…` or `mysql://…`. Tables are created if missing.
    pub database_url: String,
    /// Bearer token of the management API (`/api/token/import`).
    pub admin_token: String,
    /// HTTP worker threads (default 1).
    pub workers: usize,
    /// Most database connections (default 8).
    pub pool_size: u32,
    /// new-api's Redis token cache (`REDIS_CONN_STRING`): off when `None`.
    pub redis: Option<CacheConfig>,
    /// new-api's `LOG_SQL_DSN` when it names ClickHouse (`http(s)://…?database=…`): logs
    /// go there instead of the main database's `logs`.
    pub clickhouse_logs: Option<String>,
}

/// new-api's Redis token and user cache.
#[derive(Clone)]
pub struct CacheConfig {
    /// `redis://…`.
    pub url: String,
    /// new-api's `CRYPTO_SECRET`: the HMAC key of token cache keys.
    pub crypto_secret: String,
    /// new-api's `SYNC_FREQUENCY`: how long entries live (default 60 s).
    pub ttl: Duration,
}

impl SimConfig {
    /// A configuration with default workers and pool size.
    pub fn new(database_url: impl Into<String>, admin_token: impl Into<String>) -> Self {
        SimConfig {
            database_url: database_url.into(),
            admin_token: admin_token.into(),
            workers: 1,
            pool_size: 8,
            redis: None,
            clickhouse_logs: None,
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the admin token nor the database password belongs in logs.
        f.debug_struct("SimConfig")
            .field("backend", &Backend::from_url(&self.database_url).ok())
            .field("admin_token", &"<redacted>")
            .field("workers", &self.workers)
            .field("pool_size", &self.pool_size)
            .field("redis_cache", &self.redis.as_ref().map(|r| r.ttl))
            .field("clickhouse_logs", &self.clickhouse_logs.is_some())
            .finish()
    }
}

/// A running simulator. Dropping it stops the server (without waiting); [`SimHandle::stop`]
/// stops it and waits until it is down.
pub struct SimHandle {
    addr: SocketAddr,
    backend: Backend,
    faults: Faults,
    counters: Arc<Counters>,
    server: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (with `127.0.0.1` in place of an unspecified address).
    pub fn base_url(&self) -> String {
        sim_faults::serve::base_url(self.addr)
    }

    /// The fault rules of this simulator (shared: pushing here affects the server).
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The counters, as `GET /_sim/stats` shows them.
    pub fn stats(&self) -> SimStats {
        self.counters.snapshot()
    }

    /// The database backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stop accepting connections, let running requests finish (at most 5 s) and wait until
    /// the server is down.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // The command is sent at once; the returned future only awaits completion.
            drop(self.server.stop(false));
        }
    }
}

/// Start a simulator on `listener`: connect to the database, create new-api's tables if
/// missing, and serve on a thread of its own until stopped.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> anyhow::Result<SimHandle> {
    anyhow::ensure!(!config.admin_token.is_empty(), "the admin token is empty");
    let backend = Backend::from_url(&config.database_url)?;
    let addr = listener.local_addr().context("listener address")?;
    let faults = Faults::default();
    let counters = Arc::new(Counters::default());
    let (ready_tx, ready_rx) = oneshot::channel::<anyhow::Result<ServerHandle>>();
    let thread = {
        let faults = faults.clone();
        let counters = counters.clone();
        std::thread::Builder::new()
            .name("newapi-sim".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = match start(config, listener, faults, counters).await {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(server.handle()));
                    if let Err(e) = server.await {
                        tracing::error!(error = %e, "newapi-sim server failed");
                    }
                });
            })
            .context("starting the server thread")?
    };
    let server = match ready_rx.await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => {
            let _ = thread.join();
            anyhow::bail!("the newapi-sim server thread ended during start-up");
        }
    };
    tracing::info!(%addr, ?backend, "newapi-sim listening");
    Ok(SimHandle {
        addr,
        backend,
        faults,
        counters,
        server,
        thread: Some(thread),
    })
}

/// Connect, create the tables and build the server (inside the server thread's runtime).
async fn start(
    config: SimConfig,
    listener: TcpListener,
    faults: Faults,
    counters: Arc<Counters>,
) -> anyhow::Result<actix_web::dev::Server> {
    let pool = NewapiPool::new(
        &config.database_url,
        config.pool_size,
        Duration::from_secs(5),
    )?;
    let mut conn = pool.get().await.context("connecting to the database")?;
    create_tables(&mut conn)
        .await
        .context("creating new-api's tables")?;
    drop(conn);
    let cache = match &config.redis {
        Some(c) => Some(
            TokenCache::connect(&c.url, &c.crypto_secret, c.ttl)
                .await
                .context("connecting to Redis")?,
        ),
        None => None,
    };
    let clickhouse_logs = match &config.clickhouse_logs {
        Some(dsn) => Some(ClickHouseLogs::open(dsn).await?),
        None => None,
    };
    let state = web::Data::new(AppState {
        pool,
        admin_token: config.admin_token,
        counters,
        cache,
        clickhouse_logs,
    });
    let faults = web::Data::new(faults);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(faults.clone())
            .wrap(middleware::from_fn(sim_faults::middleware))
            .configure(routes)
    })
    .workers(config.workers.max(1))
    .disable_signals()
    .shutdown_timeout(5)
    .on_connect(sim_faults::on_connect)
    .listen(listener)
    .context("listening")?
    .run();
    Ok(server)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(sim_faults::control_routes)
        .route("/_sim/stats", web::get().to(state::stats))
        .route("/health", web::get().to(status::health))
        .route("/api/status", web::get().to(status::api_status))
        .route("/api/token/import", web::post().to(import::import_token))
        .route(
            "/api/token/import/revoke",
            web::post().to(revoke::revoke_token),
        )
        .route(
            "/api/user/import/disable",
            web::post().to(revoke::disable_user),
        )
        .route("/v1/models", web::get().to(relay::list_models))
        .route(
            "/v1/chat/completions",
            web::post().to(relay::chat_completions),
        );
}
