//! A stateful, in-memory simulator of a stock LiteLLM proxy (1.110.2) as billing uses it:
//! teams with budgets, their spend, and the budget alerts LiteLLM sends (facts from
//! litellm's source, in docs/contracts.md).
//!
//! LiteLLM's API (master key only: `Authorization: Bearer <master key>` or
//! `x-litellm-api-key`; errors `{"error":{"message","type","param","code"}}`):
//! - `POST /team/new` → the team row; a taken `team_id` → 400;
//! - `POST /team/update` `{"team_id", …}` → `{"team_id","data":<row>}`; only the fields sent
//!   are written; unknown team → 404;
//! - `GET /team/info?team_id=` → `{"team_id","team_info","keys","team_memberships"}`;
//!   no id → 422, unknown → 404;
//! - `GET /health/liveliness` → `"I'm alive!"`.
//!
//! Control plane (never faulted, no auth): `POST /_sim/teams/{id}/spend {"amount","key"?}`
//! (one LLM request by a team key: rejected with LiteLLM's 422 `budget_exceeded` while
//! `spend > max_budget`, which raises the budget alert, else charged),
//! `POST /_sim/teams/{id}/alert` (raise the alert now), `POST /_sim/flush` (report spend
//! now), `DELETE /_sim/silences` (as if 24 h had passed), `GET /_sim/state`,
//! `GET /_sim/alerts`, `GET /_sim/stats`, and `GET|POST|DELETE /_sim/faults` from
//! [`sim_faults`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use sim_faults::Faults;

mod alerts;
mod body;
mod config;
mod errors;
mod routes;
mod team;

pub use alerts::{Alert, AlertState, WebhookEvent, SILENCE};
pub use config::{SettingError, Settings, SimConfig, DEFAULT_PORT};
pub use routes::{Request, Spent};
pub use team::Team;

/// Everything the handlers share (no `Debug`: it holds the master key).
pub(crate) struct Sim {
    pub(crate) store: team::Store,
    pub(crate) alerter: alerts::Alerter,
    pub(crate) master_key: String,
    pub(crate) default_budget_duration: Option<String>,
    pub(crate) spend_flush: Duration,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Sim {
    /// Count a call of `path` (LiteLLM's routes only).
    pub(crate) fn count(&self, path: &str) {
        let mut calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *calls.entry(path.to_owned()).or_default() += 1;
    }

    /// Calls per path so far.
    pub(crate) fn stats(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Start the simulator on `listener`; it serves until [`SimHandle::stop`] or drop.
/// Must be called inside a Tokio runtime; alerts are sent on that runtime.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> anyhow::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim {
        store: team::Store::default(),
        alerter: alerts::Alerter::new(config.webhook_url)?,
        master_key: config.master_key,
        default_budget_duration: config.default_budget_duration,
        spend_flush: config.spend_flush,
        calls: Mutex::default(),
    });
    let flusher = (!sim.spend_flush.is_zero()).then(|| {
        let sim = Arc::clone(&sim);
        tokio::spawn(async move {
            // The first write one period from now, as LiteLLM's batch writer does: a plain
            // `interval` ticks at once, and when this task ran late (a loaded machine) it
            // wrote spend recorded after start-up straight away.
            let first = tokio::time::Instant::now() + sim.spend_flush;
            let mut tick = tokio::time::interval_at(first, sim.spend_flush);
            loop {
                tick.tick().await;
                sim.store.flush_spend();
            }
        })
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
    tracing::info!(%addr, webhook_url = ?sim.alerter.url(), "litellm-sim listening");
    Ok(SimHandle {
        addr,
        base_url: sim_faults::serve::base_url(addr),
        sim,
        faults,
        server: server_handle,
        task: Some(task),
        flusher,
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
    flusher: Option<tokio::task::JoinHandle<()>>,
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

    /// One team, if it exists.
    pub fn team(&self, id: &str) -> Option<Team> {
        self.sim.store.get(id)
    }

    /// Every team, by id.
    pub fn teams(&self) -> Vec<Team> {
        self.sim.store.all()
    }

    /// One LLM request by a key of team `id` costing `amount` dollars (what
    /// `POST /_sim/teams/{id}/spend` does).
    pub fn request(&self, id: &str, amount: f64) -> Request {
        self.sim.request(id, amount, None)
    }

    /// Copy every team's spend to what `/team/info` reports now.
    pub fn flush_spend(&self) {
        self.sim.store.flush_spend();
    }

    /// Every alert, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.sim.alerter.alerts()
    }

    /// Wait until at least `count` alerts exist and none is pending, or `timeout` passes;
    /// returns the alerts (newest first) either way.
    pub async fn wait_for_alerts(&self, count: usize, timeout: Duration) -> Vec<Alert> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let alerts = self.alerts();
            let settled =
                alerts.len() >= count && alerts.iter().all(|a| a.state != AlertState::Pending);
            if settled || tokio::time::Instant::now() >= deadline {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Forget every alert silence, as if 24 h had passed.
    pub fn clear_silences(&self) {
        self.sim.alerter.clear_silences();
    }

    /// The alert receiver URL.
    pub fn webhook_url(&self) -> Option<String> {
        self.sim.alerter.url()
    }

    /// Change (or remove) the alert receiver URL.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.sim.alerter.set_url(url);
    }

    /// Calls per LiteLLM path so far (faulted calls included).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.sim.stats()
    }

    /// Stop the server (in-flight requests get up to a second) and wait for it.
    pub async fn stop(mut self) {
        if let Some(flusher) = self.flusher.take() {
            flusher.abort();
        }
        if let Some(task) = self.task.take() {
            self.server.stop(true).await;
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            flusher.abort();
        }
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
