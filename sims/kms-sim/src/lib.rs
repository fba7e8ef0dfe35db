//! A stateful, in-memory simulator of the key management service (KMS) in front of LiteLLM.
//!
//! KMS contract (amounts in dollars, integer cents inside; errors are FastAPI-style
//! `{"detail": …}`, bad input 422):
//! - `GET /health` → `{"status":"ok"}`
//! - `POST /organizations/` `{"c_organization_id","quota"}` → 201 `{"c_organization_id","l_team_id","quota"}`; 409 if it exists
//! - `GET /organizations/{id}` → `{"c_organization_id","l_team_id","quota","usage"}`; 404 if unknown
//! - `PUT /organizations/{id}/quota` `{"new_quota"}` → the same shape (sets, never adds)
//! - `POST /organizations/{id}/usage` `{"amount"}` → the same shape plus `"webhook_sent"`;
//!   the call that takes usage past the quota sends the signed limit webhook.
//!
//! Control plane (never faulted): `GET /_sim/state`, `GET /_sim/stats`, `GET /_sim/webhooks`,
//! `POST /_sim/organizations/{id}/limit-exceeded`, and `GET|POST|DELETE /_sim/faults`
//! from [`sim_faults`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use sim_faults::Faults;

mod config;
mod money;
mod routes;
mod state;
mod stats;
mod webhook;

pub use config::{SettingError, Settings, SimConfig, DEFAULT_PORT};
pub use state::OrgView;
pub use stats::Stats;
pub use webhook::{
    signature, Delivery, DeliveryState, ATTEMPT_TIMEOUT, FIRST_BACKOFF, MAX_ATTEMPTS,
};

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) store: state::Store,
    pub(crate) counters: stats::Counters,
    pub(crate) notifier: webhook::Notifier,
}

/// Start the simulator on `listener`; it serves until [`SimHandle::stop`] or drop.
/// Must be called inside a Tokio runtime; webhooks are sent on that runtime.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> anyhow::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim {
        store: state::Store::default(),
        counters: stats::Counters::default(),
        notifier: webhook::Notifier::new(config.webhook_url, config.webhook_secret)?,
    });
    let faults = Faults::default();
    let (app_sim, app_faults) = (Arc::clone(&sim), faults.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::from(Arc::clone(&app_sim)))
            .app_data(web::Data::new(app_faults.clone()))
            .configure(sim_faults::control_routes)
            .configure(routes::configure)
            .default_service(web::to(routes::not_found))
            .wrap(from_fn(sim_faults::middleware))
            .wrap(from_fn(routes::count_calls))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .on_connect(sim_faults::on_connect)
    .listen(listener)?
    .run();
    let server_handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%addr, webhook_url = ?sim.notifier.url(), "kms-sim listening");
    Ok(SimHandle {
        addr,
        base_url: sim_faults::serve::base_url(addr),
        sim,
        faults,
        server: server_handle,
        task: Some(task),
    })
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    sim: Arc<Sim>,
    faults: Faults,
    server: actix_web::dev::ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    /// `http://host:port` without a trailing slash (loopback when bound to 0.0.0.0).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault rules applied to every non-`/_sim/` route.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// One organisation, if it exists.
    pub fn organization(&self, id: &str) -> Option<OrgView> {
        self.sim.store.get(id)
    }

    /// Every organisation, ordered by id.
    pub fn organizations(&self) -> Vec<OrgView> {
        self.sim.store.all()
    }

    /// Every webhook delivery, newest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sim.notifier.deliveries()
    }

    /// Wait until at least `count` deliveries exist and none is pending, or `timeout`
    /// passes; returns the deliveries (newest first) either way.
    pub async fn wait_for_deliveries(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let deliveries = self.deliveries();
            let settled = deliveries.len() >= count
                && deliveries.iter().all(|d| d.state != DeliveryState::Pending);
            if settled || tokio::time::Instant::now() >= deadline {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Calls per KMS route so far (faulted calls included).
    pub fn stats(&self) -> Stats {
        self.sim.counters.snapshot()
    }

    /// The current webhook receiver URL.
    pub fn webhook_url(&self) -> Option<String> {
        self.sim.notifier.url()
    }

    /// Change (or remove, with `None`) the webhook receiver URL for later webhooks.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.sim.notifier.set_url(url);
    }

    /// Send a limit webhook for organisation `id` now, whatever its usage; returns the
    /// delivery id. Fails for an unknown organisation or when no URL is configured.
    pub fn force_limit_exceeded(&self, id: &str) -> anyhow::Result<String> {
        let org = self
            .sim
            .store
            .get(id)
            .ok_or_else(|| anyhow::anyhow!("organization {id:?} not found"))?;
        self.sim
            .notifier
            .limit_exceeded(&org, true)
            .ok_or_else(|| anyhow::anyhow!("no webhook URL is configured"))
    }

    /// Stop the server (in-flight requests get up to a second) and wait for it.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            self.server.stop(true).await;
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if self.task.is_some() {
            // The stop command is sent at once; the returned future only awaits completion.
            drop(self.server.stop(false));
        }
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}
