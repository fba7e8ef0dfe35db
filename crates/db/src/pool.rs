//! The async Postgres pool (diesel-async over tokio-postgres, through bb8).

use std::time::Duration;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::FutureExt;

/// A pool of Tollgate Postgres connections.
pub type PgPool = Pool<AsyncPgConnection>;

/// A connection checked out of [`PgPool`].
pub type PooledConn<'a> = PooledConnection<'a, AsyncPgConnection>;

/// What a query returns on failure (diesel's error), for `From` impls outside this crate.
pub type QueryError = diesel::result::Error;

/// What a pool checkout returns on failure, for `From` impls outside this crate.
pub type CheckoutError = bb8::RunError<PoolError>;

/// Database failures, kept coarse: callers map them to 503 or 500.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had within the timeout.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// Migrations could not be read or applied.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<CheckoutError> for DbError {
    fn from(e: CheckoutError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

/// `impl From<QueryError>` and `impl From<CheckoutError>` for an error type that converts
/// from [`DbError`], so `?` works on a query or a pool checkout directly instead of
/// `.map_err(DbError::from)?` (Rust does not chain `From` conversions).
#[macro_export]
macro_rules! from_db_errors {
    ($t:ty) => {
        impl From<$crate::QueryError> for $t {
            fn from(e: $crate::QueryError) -> Self {
                $crate::DbError::from(e).into()
            }
        }
        impl From<$crate::CheckoutError> for $t {
            fn from(e: $crate::CheckoutError) -> Self {
                $crate::DbError::from(e).into()
            }
        }
    };
}

/// Build a pool without connecting yet; connections open on first use. Each checkout is
/// tested with a query, so a connection the server closed (a restart, a dropped database) is
/// replaced, or the caller gets `Unavailable` (503), rather than a failed query (500).
pub fn connect_pool(url: &str, max_size: u32, connect_timeout: Duration) -> PgPool {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.custom_setup = Box::new(|url| establish(url).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(connect_timeout)
        .idle_timeout(Some(Duration::from_secs(300)))
        .build_unchecked(manager)
}

/// A new connection, with Postgres' JIT compiler off for its session. Tollgate's queries are
/// short; with JIT on (the default where Postgres has LLVM) any plan whose cost passes
/// `jit_above_cost` (100 000) is compiled first: 20–40 ms spent on a query that runs in a
/// fraction of a millisecond. A plan made with a planner method turned off (as the usage
/// page walk does) always passes it.
async fn establish(url: &str) -> ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute("SET jit = off")
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Check out a connection and run `SELECT 1`, all within `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> Result<(), DbError> {
    let check = async {
        let mut conn = pool.get().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok::<_, DbError>(())
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| DbError::Unavailable(format!("no answer within {timeout:?}")))?
}
