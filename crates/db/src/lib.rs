//! Tollgate's own Postgres: the connection pool, the embedded migrations and the schema.
//!
//! DB functions elsewhere take a `&mut AsyncPgConnection`, never the pool, so callers own
//! transactions.

pub mod migrate;
pub mod pool;
pub mod prepared;
pub mod schema;

pub use migrate::{pending_migrations, run_migrations, MIGRATIONS};
pub use pool::{connect_pool, ping, CheckoutError, DbError, PgPool, PooledConn, QueryError};
pub use prepared::{Prepared, PreparedExt};

/// Re-exported so services name one connection type.
pub use diesel_async::AsyncPgConnection;

/// Check that `url` is a Postgres URL Tollgate can use, without echoing it (it may hold a
/// password). Returns the reason when it is not.
pub fn validate_database_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "scheme must be postgres:// or postgresql://, not {}://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err("no database name".into());
    }
    Ok(())
}

/// `host:port/dbname` of a database URL, safe to log (no user or password).
pub fn describe_database_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(5432),
            u.path()
        ),
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_validation() {
        assert!(validate_database_url("postgres://u:p@localhost:5432/tollgate").is_ok());
        assert!(validate_database_url("postgresql://localhost/x").is_ok());
        assert!(validate_database_url("mysql://localhost/x").is_err());
        assert!(validate_database_url("not a url").is_err());
        assert!(validate_database_url("postgres://localhost").is_err());
        assert!(validate_database_url("postgres:///x").is_err());
    }

    #[test]
    fn described_url_hides_credentials() {
        let d = describe_database_url("postgres://user:secret@db:6543/tollgate");
        assert_eq!(d, "db:6543/tollgate");
        assert!(!d.contains("secret"));
    }
}
