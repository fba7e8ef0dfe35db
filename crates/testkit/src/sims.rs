//! Simulators and new-api databases for one test: each on its own random port and its own
//! freshly created database, gone when the values drop.

use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{create_tables, Backend, NewapiConn};

/// The admin token the new-api simulator accepts in tests.
pub const NEWAPI_ADMIN_TOKEN: &str = "test-newapi-admin-token";

/// The HMAC secret the KMS simulator signs limit webhooks with in tests.
pub const WEBHOOK_SECRET: &str = "test-litellm-webhook-secret";

/// A new-api database with new-api's tables (MariaDB or Postgres), dropped with the value.
pub async fn newapi_db(backend: Backend) -> ScratchDb {
    let db = ScratchDb::create(backend, "tg_newapi")
        .await
        .expect("create new-api test database");
    let mut conn = NewapiConn::establish(db.url())
        .await
        .expect("connect to new-api test database");
    create_tables(&mut conn)
        .await
        .expect("create new-api tables");
    db
}

/// A running new-api simulator and the database it keeps `tokens` and `logs` in.
/// Fields drop in order: the server first, then its database.
pub struct NewapiSim {
    /// The simulator (base URL, faults, stats).
    pub sim: newapi_sim::SimHandle,
    /// Its database, for direct assertions on `tokens` and `logs`.
    pub db: ScratchDb,
}

impl NewapiSim {
    /// `http://127.0.0.1:<port>`, the value for `NEWAPI_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.sim.base_url()
    }
}

/// Start a new-api simulator on a fresh database of `backend`.
pub async fn newapi_sim(backend: Backend) -> NewapiSim {
    newapi_sim_on(backend, crate::free_listener()).await
}

/// Start a new-api simulator on `listener` (e.g. a port a client already points at).
pub async fn newapi_sim_on(backend: Backend, listener: std::net::TcpListener) -> NewapiSim {
    let db = newapi_db(backend).await;
    let sim = newapi_sim::spawn(
        newapi_sim::SimConfig::new(db.url(), NEWAPI_ADMIN_TOKEN),
        listener,
    )
    .await
    .expect("start the new-api simulator");
    NewapiSim { sim, db }
}

/// Start a KMS simulator that sends signed limit webhooks (with [`WEBHOOK_SECRET`]) to
/// `webhook_url`.
pub async fn kms_sim(webhook_url: Option<String>) -> kms_sim::SimHandle {
    kms_sim::spawn(
        kms_sim::SimConfig {
            webhook_url,
            webhook_secret: WEBHOOK_SECRET.into(),
        },
        crate::free_listener(),
    )
    .await
    .expect("start the KMS simulator")
}
