//! Throw-away databases for tests: each [`ScratchDb`] is a freshly created database with a
//! unique name on the local Postgres or MariaDB server, dropped again when the value is
//! dropped (also when the test panics).
//!
//! Servers: `TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`) and
//! `TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`), the same variables the
//! testkit reads; administrative statements run in their `postgres` / `mysql` database.

use diesel_async::RunQueryDsl;

use crate::conn::NewapiConn;
use crate::ddl::Backend;
use crate::error::NewapiDbError;
use crate::with_conn;

/// The administrative URL of the local test server for `backend`.
pub fn server_url(backend: Backend) -> String {
    let (var, default, admin_db) = match backend {
        Backend::Postgres => (
            "TEST_PG_URL",
            "postgres://postgres@127.0.0.1:5432",
            "postgres",
        ),
        Backend::Mysql => ("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306", "mysql"),
    };
    let server = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    match url::Url::parse(&server) {
        Ok(mut url) => {
            url.set_path(&format!("/{admin_db}"));
            url.to_string()
        }
        Err(_) => server,
    }
}

/// A uniquely named, empty database that is dropped with this value.
#[derive(Debug)]
pub struct ScratchDb {
    backend: Backend,
    server_url: String,
    name: String,
    url: String,
}

impl ScratchDb {
    /// Create database `<prefix>_<uuid>` on the test server of `backend`.
    pub async fn create(backend: Backend, prefix: &str) -> Result<ScratchDb, NewapiDbError> {
        let prefix: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple()).to_ascii_lowercase();
        let server_url = server_url(backend);
        let mut url = url::Url::parse(&server_url)
            .map_err(|e| NewapiDbError::UnsupportedUrl(format!("test server URL: {e}")))?;
        url.set_path(&format!("/{name}"));
        let statement = format!("CREATE DATABASE {}", backend.quote(&name));
        let mut conn = NewapiConn::establish(&server_url).await?;
        with_conn!(&mut conn, |c| diesel::sql_query(&statement)
            .execute(c)
            .await)?;
        Ok(ScratchDb {
            backend,
            server_url,
            name,
            url: url.to_string(),
        })
    }

    /// URL of the scratch database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Name of the scratch database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// The ids of the other sessions using database `name` (MariaDB's processlist).
#[derive(diesel::QueryableByName)]
struct SessionId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let statement = match self.backend {
            Backend::Postgres => format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.backend.quote(&self.name)
            ),
            Backend::Mysql => format!("DROP DATABASE IF EXISTS {}", self.backend.quote(&self.name)),
        };
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop may run inside an async runtime, so the drop gets a thread and runtime of its own.
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = NewapiConn::establish(&server_url)
                    .await
                    .map_err(|e| e.to_string())?;
                if let NewapiConn::Mysql(c) = &mut conn {
                    // MariaDB has no DROP … WITH (FORCE): end the database's other sessions
                    // first. Their open transactions hold metadata locks the drop would wait
                    // on, possibly for ever: a service under test may be parked on this very
                    // thread's runtime, which is blocked here until the drop ends.
                    let sessions: Vec<SessionId> = diesel::sql_query(
                        "SELECT CAST(id AS SIGNED) AS id FROM information_schema.PROCESSLIST \
                         WHERE db = ? AND id <> CONNECTION_ID()",
                    )
                    .bind::<diesel::sql_types::Text, _>(&name)
                    .load(c)
                    .await
                    .map_err(|e| e.to_string())?;
                    for session in sessions {
                        // Gone already is fine.
                        let _ = diesel::sql_query(format!("KILL CONNECTION {}", session.id))
                            .execute(c)
                            .await;
                    }
                    diesel::sql_query("SET SESSION lock_wait_timeout = 30")
                        .execute(c)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                with_conn!(&mut conn, |c| diesel::sql_query(&statement)
                    .execute(c)
                    .await)
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = outcome {
            eprintln!("could not drop scratch database {}: {e}", self.name);
        }
    }
}
