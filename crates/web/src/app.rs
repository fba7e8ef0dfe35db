//! A running service: its bound port, its server and its background tasks,
//! zero-to-production style, so tests can start the real thing on port 0.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use futures_util::future::BoxFuture;
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::{serve, CommonSettings, Readiness, ReadyCheck, ServerOptions};

/// A bound, not yet awaited service.
pub struct Application {
    port: u16,
    server: Server,
    /// Stop signals, caught from before the port was bound.
    signals: tollgate_signals::Shutdown,
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, BoxFuture<'static, ()>)>,
}

impl Application {
    /// Bind `HOST:PORT` and build the server with the common parts plus `configure`'s routes.
    /// `checks` are added to the Postgres readiness check; `openapi` is the service's whole
    /// document ([`crate::openapi::complete`]), served at `/openapi.json`.
    pub fn start<F>(
        service: &'static str,
        common: &CommonSettings,
        pool: tollgate_db::PgPool,
        registry: Registry,
        checks: Vec<ReadyCheck>,
        openapi: utoipa::openapi::OpenApi,
        configure: F,
    ) -> anyhow::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        // Before binding: a SIGTERM from here on stops the server gracefully (actix's own
        // handlers only exist once it runs).
        let signals = tollgate_signals::Shutdown::install();
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
            admin_token: common.admin_token.clone(),
            openapi,
        };
        let server = serve(listener, options, configure)?;
        tracing::info!(service, port, "listening");
        Ok(Self {
            port,
            server,
            signals,
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
        })
    }

    /// Run `task` beside the server (a worker loop). It gets a token that is cancelled when
    /// the server stops, and is awaited (up to 10 s) before [`run_until_stopped`] returns.
    ///
    /// [`run_until_stopped`]: Self::run_until_stopped
    pub fn with_task<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let fut = task(self.shutdown.child_token());
        self.tasks.push((name, Box::pin(fut)));
        self
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until SIGTERM/SIGINT or a stop through the handle; then stop the tasks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handles: Vec<_> = self
            .tasks
            .into_iter()
            .map(|(name, fut)| (name, tokio::spawn(fut)))
            .collect();
        let handle = self.server.handle();
        let mut server = self.server;
        let served = tokio::select! {
            served = &mut server => served,
            _ = self.signals.wait() => {
                // The command is sent at once; the server future (polled below) carries it out.
                drop(handle.stop(true));
                server.await
            }
        };
        self.shutdown.cancel();
        for (name, handle) in handles {
            match tokio::time::timeout(Duration::from_secs(10), handle).await {
                Ok(Ok(())) => tracing::info!(task = name, "background task stopped"),
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "background task failed"),
                Err(_) => tracing::warn!(task = name, "background task did not stop in 10 s"),
            }
        }
        served
    }
}
