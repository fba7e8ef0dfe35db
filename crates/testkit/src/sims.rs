//! Simulators and new-api databases for one test: each on its own random port and its own
//! freshly created database, gone when the values drop.

use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{create_tables, ddl_before_2025_12, with_conn, Backend, NewapiConn};

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

/// A new-api database whose `tokens` and `users` are laid out as a stock new-api from
/// before 2025-12 made them (`key char(48)`, no `cross_group_retry`, `auto_groups`,
/// `users.created_at`, …); `logs` as today.
pub async fn newapi_db_before_2025_12(backend: Backend) -> ScratchDb {
    let db = ScratchDb::create(backend, "tg_newapi_old")
        .await
        .expect("create new-api test database");
    let mut conn = NewapiConn::establish(db.url())
        .await
        .expect("connect to new-api test database");
    for statement in ddl_before_2025_12(backend) {
        with_conn!(&mut conn, |c| diesel::sql_query(*statement)
            .execute(c)
            .await)
        .expect("create old new-api tables");
    }
    // `logs` as today; the old tables stay as they are.
    create_tables(&mut conn)
        .await
        .expect("create new-api's logs table");
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

/// Start a new-api simulator on `db` (already holding new-api's tables or not), with new-api's
/// Redis token cache when `redis` is given.
pub async fn newapi_sim_with(db: ScratchDb, redis: Option<newapi_sim::CacheConfig>) -> NewapiSim {
    let mut config = newapi_sim::SimConfig::new(db.url(), NEWAPI_ADMIN_TOKEN);
    config.redis = redis;
    let sim = newapi_sim::spawn(config, crate::free_listener())
        .await
        .expect("start the new-api simulator");
    NewapiSim { sim, db }
}

/// A new-api simulator on `db` whose logs go to `logs` in ClickHouse, as new-api with
/// `LOG_SQL_DSN` does.
pub async fn newapi_sim_logging_to(db: ScratchDb, logs: &crate::clickhouse::ChDb) -> NewapiSim {
    let mut config = newapi_sim::SimConfig::new(db.url(), NEWAPI_ADMIN_TOKEN);
    config.clickhouse_logs = Some(logs.writer_url());
    let sim = newapi_sim::spawn(config, crate::free_listener())
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
