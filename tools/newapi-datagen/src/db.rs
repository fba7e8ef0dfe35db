//! Database side: multi-row inserts, truncation, and dropping / rebuilding `logs`' secondary
//! indexes around a bulk load.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::schema::{logs, tokens};
use tollgate_newapi_schema::{
    ddl, with_conn, AsNewapiConn, Backend, NewLog, NewToken, NewapiConn, NewapiDbError, LOG_INDEXES,
};

/// Most bound parameters one statement may carry on both backends.
const MAX_PARAMS: usize = 65_535;
/// Most `logs` rows in one multi-row `INSERT` (18 bound columns each).
pub const MAX_LOGS_PER_STATEMENT: usize = MAX_PARAMS / 18;
/// Most `tokens` rows in one multi-row `INSERT` (17 bound columns each).
pub const MAX_TOKENS_PER_STATEMENT: usize = MAX_PARAMS / 17;

/// Largest statement text [`insert_logs`] sends (well below MySQL's default
/// `max_allowed_packet` of 16 MiB).
const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// Insert `rows` into `logs` exactly as given (the database assigns `id`): one multi-row
/// `INSERT` with inline literals per [`MAX_LOGS_PER_STATEMENT`] rows (or 4 MiB of SQL), sent
/// over the text protocol. Works on any connection of either backend; returns the number
/// of rows inserted.
pub async fn insert_logs<C: AsNewapiConn + ?Sized>(
    conn: &mut C,
    rows: &[NewLog],
) -> anyhow::Result<u64> {
    let mut sql = String::new();
    let mut inserted = 0;
    let mut rest = rows;
    while !rest.is_empty() {
        let backend = conn.as_newapi_conn().backend();
        sql.clear();
        sql.push_str(crate::sql::log_columns(backend));
        let mut n = 0;
        for log in rest.iter().take(MAX_LOGS_PER_STATEMENT) {
            if n > 0 {
                if sql.len() >= MAX_STATEMENT_BYTES {
                    break;
                }
                sql.push(',');
            }
            crate::sql::push_log(&mut sql, backend, log)?;
            n += 1;
        }
        execute_text(&mut *conn, &sql).await?;
        inserted += n as u64;
        rest = &rest[n..];
    }
    Ok(inserted)
}

/// Run one statement (no result rows) over the simple/text protocol.
pub(crate) async fn execute_text<C: AsNewapiConn + ?Sized>(
    conn: &mut C,
    sql: &str,
) -> QueryResult<()> {
    with_conn!(&mut *conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(c, sql).await
    })
}

/// [`insert_logs`] with diesel's `insert_into(logs).values(&[NewLog])` (bound parameters,
/// one multi-row statement per [`MAX_LOGS_PER_STATEMENT`] rows) — slower, for comparison.
pub async fn insert_logs_bound<C: AsNewapiConn + ?Sized>(
    conn: &mut C,
    rows: &[NewLog],
) -> Result<u64, NewapiDbError> {
    let mut inserted = 0;
    for chunk in rows.chunks(MAX_LOGS_PER_STATEMENT) {
        inserted += with_conn!(&mut *conn, |c| diesel::insert_into(logs::table)
            .values(chunk)
            .execute(c)
            .await)? as u64;
    }
    Ok(inserted)
}

/// Insert `rows` into `tokens` exactly as given (the database assigns `id`), with one
/// multi-row `INSERT` per [`MAX_TOKENS_PER_STATEMENT`] rows. Returns the number inserted.
pub async fn insert_tokens<C: AsNewapiConn + ?Sized>(
    conn: &mut C,
    rows: &[NewToken],
) -> Result<u64, NewapiDbError> {
    let mut inserted = 0;
    for chunk in rows.chunks(MAX_TOKENS_PER_STATEMENT) {
        inserted += with_conn!(&mut *conn, |c| diesel::insert_into(tokens::table)
            .values(chunk)
            .execute(c)
            .await)? as u64;
    }
    Ok(inserted)
}

/// The ids of the (not deleted) tokens with these keys, in the same order.
pub(crate) async fn token_ids(conn: &mut NewapiConn, keys: &[String]) -> anyhow::Result<Vec<i64>> {
    let mut found: HashMap<String, i64> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(2000) {
        let rows: Vec<(i64, Option<String>)> = with_conn!(conn, |c| tokens::table
            .filter(tokens::key.eq_any(chunk))
            .filter(tokens::deleted_at.is_null())
            .select((tokens::id, tokens::key))
            .load(c)
            .await)?;
        found.extend(rows.into_iter().filter_map(|(id, key)| Some((key?, id))));
    }
    keys.iter()
        .map(|k| {
            found
                .get(k)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("inserted token not found again"))
        })
        .collect()
}

/// Open a connection tuned for bulk writes (Postgres: `synchronous_commit = off` for this
/// session only — a crash could lose the last commits, never corrupt anything).
pub(crate) async fn connect(url: &str) -> anyhow::Result<NewapiConn> {
    let mut conn = NewapiConn::establish(url).await?;
    if conn.backend() == Backend::Postgres {
        execute(&mut conn, "SET synchronous_commit TO off").await?;
    }
    Ok(conn)
}

pub(crate) async fn execute(conn: &mut NewapiConn, sql: &str) -> QueryResult<usize> {
    with_conn!(conn, |c| diesel::sql_query(sql).execute(c).await)
}

/// Whether `logs` has no rows.
pub(crate) async fn logs_empty(conn: &mut NewapiConn) -> QueryResult<bool> {
    let any: Option<i64> = with_conn!(conn, |c| logs::table
        .select(logs::id)
        .limit(1)
        .get_result(c)
        .await
        .optional())?;
    Ok(any.is_none())
}

/// Empty `tokens` and `logs` (and restart their ids).
pub(crate) async fn truncate(conn: &mut NewapiConn) -> QueryResult<()> {
    match conn.backend() {
        Backend::Postgres => {
            execute(conn, r#"TRUNCATE TABLE "tokens", "logs" RESTART IDENTITY"#).await?;
        }
        Backend::Mysql => {
            execute(conn, "TRUNCATE TABLE `tokens`").await?;
            execute(conn, "TRUNCATE TABLE `logs`").await?;
        }
    }
    Ok(())
}

/// How to recreate the secondary indexes of `logs` dropped for a bulk load.
#[derive(Debug, Default)]
pub(crate) struct DroppedIndexes {
    /// Statements that recreate them; independent of each other.
    pub(crate) statements: Vec<String>,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

#[derive(QueryableByName)]
struct MyIndexColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    non_unique: i64,
    #[diesel(sql_type = Text)]
    column: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    sub_part: Option<i64>,
}

/// new-api's definition of each `logs` index for `backend`, from the crate's DDL:
/// `(name, statement or clause)` — Postgres: a whole `CREATE INDEX IF NOT EXISTS …`;
/// MySQL: an `INDEX `name` (…)` clause for `ALTER TABLE … ADD`.
pub(crate) fn standard_log_indexes(backend: Backend) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stmt in ddl(backend) {
        match backend {
            Backend::Postgres => {
                if stmt.contains("INDEX") && stmt.contains(r#"ON "logs""#) {
                    if let Some(name) = stmt.split('"').nth(1) {
                        out.push((name.to_owned(), (*stmt).to_owned()));
                    }
                }
            }
            Backend::Mysql => {
                if !stmt.contains("CREATE TABLE IF NOT EXISTS `logs`") {
                    continue;
                }
                for line in stmt.lines().map(str::trim) {
                    if line.starts_with("INDEX `") || line.starts_with("UNIQUE INDEX `") {
                        if let Some(name) = line.split('`').nth(1) {
                            out.push((name.to_owned(), line.trim_end_matches(',').to_owned()));
                        }
                    }
                }
            }
        }
    }
    out.retain(|(name, _)| LOG_INDEXES.contains(&name.as_str()));
    out
}

/// Drop new-api's secondary indexes on `logs` (those in [`LOG_INDEXES`] that exist) and
/// return how to rebuild the whole set: each dropped index exactly as it was, and any of
/// new-api's that was missing (say, after an interrupted load) as new-api defines it.
pub(crate) async fn drop_log_indexes(conn: &mut NewapiConn) -> anyhow::Result<DroppedIndexes> {
    let wanted = |name: &str| LOG_INDEXES.contains(&name);
    let backend = conn.backend();
    let standard = standard_log_indexes(backend);
    match backend {
        Backend::Postgres => {
            let found: Vec<PgIndex> = with_conn!(conn, |c| diesel::sql_query(
                "SELECT indexname::text AS name, indexdef AS def FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename = 'logs'"
            )
            .load(c)
            .await)?;
            let found: Vec<PgIndex> = found.into_iter().filter(|i| wanted(&i.name)).collect();
            for index in &found {
                let sql = format!("DROP INDEX IF EXISTS {}", backend.quote(&index.name));
                execute(conn, &sql).await?;
            }
            let mut statements: Vec<String> = Vec::new();
            for (name, create) in standard {
                match found.iter().find(|i| i.name == name) {
                    Some(i) => statements.push(i.def.clone()),
                    None => statements.push(create),
                }
            }
            Ok(DroppedIndexes { statements })
        }
        Backend::Mysql => {
            let columns: Vec<MyIndexColumn> = with_conn!(conn, |c| diesel::sql_query(
                "SELECT index_name AS name, CAST(non_unique AS SIGNED) AS non_unique, \
                 column_name AS `column`, CAST(sub_part AS SIGNED) AS sub_part \
                 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = 'logs' \
                 ORDER BY index_name, seq_in_index"
            )
            .load(c)
            .await)?;
            let mut found: Vec<(String, bool, Vec<String>)> = Vec::new();
            for col in columns.into_iter().filter(|c| wanted(&c.name)) {
                let part = match col.sub_part {
                    Some(n) => format!("{}({n})", backend.quote(&col.column)),
                    None => backend.quote(&col.column),
                };
                match found.last_mut() {
                    Some((name, _, parts)) if *name == col.name => parts.push(part),
                    _ => found.push((col.name, col.non_unique == 0, vec![part])),
                }
            }
            if !found.is_empty() {
                let drops: Vec<String> = found
                    .iter()
                    .map(|(name, _, _)| format!("DROP INDEX {}", backend.quote(name)))
                    .collect();
                execute(conn, &format!("ALTER TABLE `logs` {}", drops.join(", "))).await?;
            }
            let adds: Vec<String> = standard
                .into_iter()
                .map(|(name, clause)| match found.iter().find(|f| f.0 == name) {
                    Some((name, unique, parts)) => format!(
                        "ADD {}INDEX {} ({})",
                        if *unique { "UNIQUE " } else { "" },
                        backend.quote(name),
                        parts.join(", ")
                    ),
                    None => format!("ADD {clause}"),
                })
                .collect();
            // One ALTER builds all of them in a single pass over the table (InnoDB cannot
            // run two ALTERs of one table at once anyway).
            Ok(DroppedIndexes {
                statements: if adds.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("ALTER TABLE `logs` {}", adds.join(", "))]
                },
            })
        }
    }
}

/// Rebuild dropped indexes, spreading the statements over up to `parallel` connections.
pub(crate) async fn rebuild_indexes(
    url: &str,
    dropped: &DroppedIndexes,
    parallel: usize,
) -> anyhow::Result<()> {
    if dropped.statements.is_empty() {
        return Ok(());
    }
    let lanes = parallel.clamp(1, dropped.statements.len());
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..lanes {
        let url = url.to_owned();
        let statements: Vec<String> = dropped
            .statements
            .iter()
            .skip(lane)
            .step_by(lanes)
            .cloned()
            .collect();
        tasks.spawn(async move {
            let mut conn = NewapiConn::establish(&url).await?;
            if conn.backend() == Backend::Postgres {
                execute(&mut conn, "SET maintenance_work_mem TO '256MB'").await?;
            }
            for sql in &statements {
                execute(&mut conn, sql).await?;
            }
            anyhow::Ok(())
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined.map_err(anyhow::Error::from).and_then(|r| r) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
