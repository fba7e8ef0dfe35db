//! Embedded migrations, applied by `<binary> migrate` and checked at service start.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::DbError;

/// Every migration in `migrations/`, compiled into each binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Advisory lock key so that replicas running `migrate` at once apply each migration once.
const MIGRATION_LOCK: i64 = 0x546f_6c6c_6761_7465; // "Tollgate"

type SyncPg = AsyncConnectionWrapper<AsyncPgConnection>;

/// Apply every pending migration; returns the versions applied.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    with_sync_connection(url, |conn| {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| DbError::Migration(e.to_string()));
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
        applied
    })
    .await
}

/// Names of migrations not yet applied to the database at `url`.
pub async fn pending_migrations(url: &str) -> Result<Vec<String>, DbError> {
    with_sync_connection(url, |conn| {
        conn.pending_migrations(MIGRATIONS)
            .map(|pending| pending.iter().map(|m| m.name().to_string()).collect())
            .map_err(|e| DbError::Migration(e.to_string()))
    })
    .await
}

/// diesel_migrations is synchronous: run it on a blocking thread over the async driver.
async fn with_sync_connection<T, F>(url: &str, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut SyncPg) -> Result<T, DbError> + Send + 'static,
{
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = SyncPg::establish(&url).map_err(|e| DbError::Unavailable(e.to_string()))?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Migration(format!("migration task failed: {e}")))?
}
