//! A bb8 connection pool over either backend.

use std::time::Duration;

use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};

use crate::conn::{AsNewapiConn, NewapiConnRef};
use crate::ddl::Backend;
use crate::error::NewapiDbError;

/// A pool of connections to one new-api database. Cloning shares the pool.
#[derive(Clone)]
pub enum NewapiPool {
    /// Postgres.
    Pg(Pool<AsyncPgConnection>),
    /// MySQL or MariaDB.
    Mysql(Pool<AsyncMysqlConnection>),
}

impl std::fmt::Debug for NewapiPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NewapiPool").field(&self.backend()).finish()
    }
}

/// A connection checked out of a [`NewapiPool`]; it goes back to the pool when dropped.
/// Use it through [`with_conn!`](crate::with_conn).
// Few, long-lived values: boxing the larger Postgres variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum NewapiPooledConn {
    /// Postgres.
    Pg(PooledConnection<'static, AsyncPgConnection>),
    /// MySQL or MariaDB.
    Mysql(PooledConnection<'static, AsyncMysqlConnection>),
}

impl AsNewapiConn for NewapiPooledConn {
    fn as_newapi_conn(&mut self) -> NewapiConnRef<'_> {
        match self {
            NewapiPooledConn::Pg(c) => NewapiConnRef::Pg(c),
            NewapiPooledConn::Mysql(c) => NewapiConnRef::Mysql(c),
        }
    }
}

impl NewapiPool {
    /// A pool of at most `max_size` connections to `url` (`postgres://` or `mysql://`).
    /// Connections open on first use; a checkout waits at most `connect_timeout` and is
    /// tested with a query (a MySQL connection whose server went away is not flagged broken
    /// and would fail every query after; a closed Postgres one would fail one request).
    pub fn new(url: &str, max_size: u32, connect_timeout: Duration) -> Result<Self, NewapiDbError> {
        fn build<C>(url: &str, max_size: u32, timeout: Duration) -> Pool<C>
        where
            C: diesel_async::pooled_connection::PoolableConnection + 'static,
            AsyncDieselConnectionManager<C>: bb8::ManageConnection,
        {
            Pool::builder()
                .max_size(max_size.max(1))
                .connection_timeout(timeout)
                .idle_timeout(Some(Duration::from_secs(300)))
                .build_unchecked(AsyncDieselConnectionManager::<C>::new(url))
        }
        Ok(match Backend::from_url(url)? {
            Backend::Postgres => NewapiPool::Pg(build(url, max_size, connect_timeout)),
            Backend::Mysql => NewapiPool::Mysql(build(url, max_size, connect_timeout)),
        })
    }

    /// The backend of this pool.
    pub fn backend(&self) -> Backend {
        match self {
            NewapiPool::Pg(_) => Backend::Postgres,
            NewapiPool::Mysql(_) => Backend::Mysql,
        }
    }

    /// Like [`NewapiPool::new`], but every connection makes the server give up waiting for a
    /// lock (and, on Postgres, any statement) after `wait`: a client that stops waiting
    /// (a timeout) must not leave a server backend queued behind a lock, holding a
    /// connection slot until the lock goes. Postgres: `lock_timeout` and
    /// `statement_timeout`; MySQL/MariaDB: `lock_wait_timeout` and
    /// `innodb_lock_wait_timeout` (whole seconds, rounded up, at least 1).
    pub fn with_server_timeouts(
        url: &str,
        max_size: u32,
        connect_timeout: Duration,
        wait: Duration,
    ) -> Result<Self, NewapiDbError> {
        use diesel_async::pooled_connection::ManagerConfig;
        use diesel_async::SimpleAsyncConnection;
        use futures_util::FutureExt;

        fn build<C>(url: &str, max_size: u32, timeout: Duration, settings: String) -> Pool<C>
        where
            C: diesel_async::pooled_connection::PoolableConnection
                + SimpleAsyncConnection
                + Send
                + 'static,
            AsyncDieselConnectionManager<C>: bb8::ManageConnection,
        {
            let mut config = ManagerConfig::<C>::default();
            config.custom_setup = Box::new(move |url| {
                let settings = settings.clone();
                let url = url.to_owned();
                async move {
                    let mut conn = C::establish(&url).await?;
                    conn.batch_execute(&settings)
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    Ok(conn)
                }
                .boxed()
            });
            Pool::builder()
                .max_size(max_size.max(1))
                .connection_timeout(timeout)
                .idle_timeout(Some(Duration::from_secs(300)))
                .build_unchecked(AsyncDieselConnectionManager::<C>::new_with_config(
                    url, config,
                ))
        }
        let millis = wait.as_millis().max(1);
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        Ok(match Backend::from_url(url)? {
            Backend::Postgres => NewapiPool::Pg(build::<AsyncPgConnection>(
                url,
                max_size,
                connect_timeout,
                format!("SET lock_timeout = {millis}; SET statement_timeout = {millis};"),
            )),
            Backend::Mysql => NewapiPool::Mysql(build::<AsyncMysqlConnection>(
                url,
                max_size,
                connect_timeout,
                format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds};"
                ),
            )),
        })
    }

    /// Check out a connection.
    pub async fn get(&self) -> Result<NewapiPooledConn, NewapiDbError> {
        Ok(match self {
            NewapiPool::Pg(pool) => NewapiPooledConn::Pg(pool.get_owned().await?),
            NewapiPool::Mysql(pool) => NewapiPooledConn::Mysql(pool.get_owned().await?),
        })
    }

    /// Check out a connection and run `SELECT 1`, all within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), NewapiDbError> {
        let check = async {
            let mut conn = self.get().await?;
            crate::with_conn!(&mut conn, |c| diesel::sql_query("SELECT 1")
                .execute(c)
                .await)?;
            Ok::<_, NewapiDbError>(())
        };
        tokio::time::timeout(timeout, check)
            .await
            .map_err(|_| NewapiDbError::Unavailable(format!("no answer within {timeout:?}")))?
    }
}
