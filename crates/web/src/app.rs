//! A running service: its bound port and its server, zero-to-production style, so tests
//! can start the real thing on port 0.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use prometheus::Registry;

use crate::{serve, CommonSettings, Readiness, ReadyCheck, ServerOptions};

/// A bound, not yet awaited service.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Bind `HOST:PORT` and build the server with the common parts plus `configure`'s routes.
    /// `checks` are added to the Postgres readiness check.
    pub fn start<F>(
        service: &'static str,
        common: &CommonSettings,
        pool: tollgate_db::PgPool,
        registry: Registry,
        checks: Vec<ReadyCheck>,
        configure: F,
    ) -> anyhow::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let listener = TcpListener::bind((common.host.as_str(), common.port)).map_err(|e| {
            anyhow::anyhow!("cannot listen on {}:{}: {e}", common.host, common.port)
        })?;
        let port = listener.local_addr()?.port();
        let mut all_checks = vec![ReadyCheck::postgres(pool, Duration::from_secs(2))];
        all_checks.extend(checks);
        let options = ServerOptions {
            service,
            body_limit: common.request_body_limit,
            shutdown_timeout: Duration::from_secs(common.shutdown_timeout_secs),
            readiness: Readiness::new(all_checks, Duration::from_secs(3)),
            registry,
        };
        let server = serve(listener, options, configure)?;
        tracing::info!(service, port, "listening");
        Ok(Self { port, server })
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until SIGTERM/SIGINT or a stop through the handle.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
