//! One connection to a new-api database of either backend, and [`with_conn!`](crate::with_conn).

use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};

use crate::ddl::{ddl, Backend};
use crate::error::NewapiDbError;

/// An owned connection to a new-api database on Postgres or MySQL/MariaDB.
// Few, long-lived values: boxing the larger Postgres variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum NewapiConn {
    /// Postgres.
    Pg(AsyncPgConnection),
    /// MySQL or MariaDB.
    Mysql(AsyncMysqlConnection),
}

impl NewapiConn {
    /// Open a connection; the backend follows the URL scheme ([`Backend::from_url`]).
    pub async fn establish(url: &str) -> Result<NewapiConn, NewapiDbError> {
        Ok(match Backend::from_url(url)? {
            Backend::Postgres => NewapiConn::Pg(AsyncPgConnection::establish(url).await?),
            Backend::Mysql => NewapiConn::Mysql(AsyncMysqlConnection::establish(url).await?),
        })
    }

    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            NewapiConn::Pg(_) => Backend::Postgres,
            NewapiConn::Mysql(_) => Backend::Mysql,
        }
    }
}

/// A borrowed connection of either backend: what [`with_conn!`](crate::with_conn) matches on.
pub enum NewapiConnRef<'a> {
    /// Postgres.
    Pg(&'a mut AsyncPgConnection),
    /// MySQL or MariaDB.
    Mysql(&'a mut AsyncMysqlConnection),
}

impl NewapiConnRef<'_> {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            NewapiConnRef::Pg(_) => Backend::Postgres,
            NewapiConnRef::Mysql(_) => Backend::Mysql,
        }
    }
}

/// Anything that holds a new-api connection: [`NewapiConn`],
/// [`NewapiPooledConn`](crate::NewapiPooledConn) or a [`NewapiConnRef`].
pub trait AsNewapiConn {
    /// Borrow the underlying connection.
    fn as_newapi_conn(&mut self) -> NewapiConnRef<'_>;
}

impl AsNewapiConn for NewapiConn {
    fn as_newapi_conn(&mut self) -> NewapiConnRef<'_> {
        match self {
            NewapiConn::Pg(c) => NewapiConnRef::Pg(c),
            NewapiConn::Mysql(c) => NewapiConnRef::Mysql(c),
        }
    }
}

impl AsNewapiConn for NewapiConnRef<'_> {
    fn as_newapi_conn(&mut self) -> NewapiConnRef<'_> {
        match self {
            NewapiConnRef::Pg(c) => NewapiConnRef::Pg(c),
            NewapiConnRef::Mysql(c) => NewapiConnRef::Mysql(c),
        }
    }
}

/// Run the same diesel code on whichever backend a connection has.
///
/// `with_conn!(conn, |c| body)` evaluates `body` with `c` bound to
/// `&mut AsyncPgConnection` or `&mut AsyncMysqlConnection`; `conn` is a `&mut` to anything
/// implementing [`AsNewapiConn`]. The body runs inside an `async` block that is awaited
/// at once, so it may `.await` and use `?` (which ends the body, not the caller, with the
/// error — the tail expression fixes the error type). It is compiled once per backend, so it
/// must type-check for both, and both arms must produce the same type.
///
/// ```no_run
/// # async fn demo(pool: &tollgate_newapi_schema::NewapiPool) -> Result<(), tollgate_newapi_schema::NewapiDbError> {
/// use diesel::prelude::*;
/// use diesel_async::RunQueryDsl;
/// use tollgate_newapi_schema::{schema::tokens, with_conn, Token};
///
/// let mut conn = pool.get().await?;
/// let token: Option<Token> = with_conn!(&mut conn, |c| {
///     tokens::table
///         .filter(tokens::key.eq("abc"))
///         .filter(tokens::deleted_at.is_null())
///         .select(Token::as_select())
///         .first(c)
///         .await
///         .optional()
/// })?;
/// # let _ = token; Ok(()) }
/// ```
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $crate::AsNewapiConn::as_newapi_conn($conn) {
            $crate::NewapiConnRef::Pg($c) => {
                async {
                    let $c = $c;
                    $body
                }
                .await
            }
            $crate::NewapiConnRef::Mysql($c) => {
                async {
                    let $c = $c;
                    $body
                }
                .await
            }
        }
    };
}

/// Create `tokens`, `logs` and `users` with new-api's indexes, each table only if it does
/// not exist yet (runs [`ddl`] for the connection's backend). A table that exists is left as
/// it is, in whatever layout an older new-api gave it.
pub async fn create_tables<C: AsNewapiConn + ?Sized>(conn: &mut C) -> QueryResult<()> {
    let mut conn = conn.as_newapi_conn();
    let backend = conn.backend();
    let existing = existing_tables(&mut conn).await?;
    for statement in ddl(backend) {
        let table = ["tokens", "logs", "users"]
            .into_iter()
            .find(|t| statement_targets(statement, t));
        if table.is_some_and(|t| existing.iter().any(|e| e == t)) {
            continue;
        }
        with_conn!(&mut conn, |c| diesel::sql_query(*statement)
            .execute(c)
            .await)?;
    }
    Ok(())
}

/// Whether a DDL statement creates `table` or an index on it.
fn statement_targets(statement: &str, table: &str) -> bool {
    [
        format!("TABLE IF NOT EXISTS \"{table}\""),
        format!("TABLE IF NOT EXISTS `{table}`"),
        format!("ON \"{table}\""),
    ]
    .iter()
    .any(|needle| statement.contains(needle.as_str()))
}

#[derive(diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

async fn existing_tables(conn: &mut NewapiConnRef<'_>) -> QueryResult<Vec<String>> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name IN ('tokens', 'logs', 'users')"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name IN ('tokens', 'logs', 'users')"
        }
    };
    let rows: Vec<TableName> = with_conn!(conn, |c| diesel::sql_query(sql).load(c).await)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_concerns_exactly_one_table() {
        for backend in [Backend::Postgres, Backend::Mysql] {
            for statement in ddl(backend) {
                let tables: Vec<_> = ["tokens", "logs", "users"]
                    .into_iter()
                    .filter(|t| statement_targets(statement, t))
                    .collect();
                assert_eq!(tables.len(), 1, "{statement}");
            }
        }
    }
}
