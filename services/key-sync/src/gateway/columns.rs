//! The columns a new-api database has, read once from `information_schema`, and INSERTs that
//! write only those. new-api versions differ: `tokens.cross_group_retry` (2025-12),
//! `auto_groups` (2026-08), `users.created_at`/`last_login_at` (2026-04), `auth_version`
//! (2026-07); a patched new-api adds `external_user_id`. Writing a column an older version
//! lacks would fail; leaving out one it has gives the column's default.

use std::collections::BTreeSet;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::{with_conn, AsNewapiConn, Backend, NewapiDbError};

/// The columns of `users` and `tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Columns of `users`.
    pub users: BTreeSet<String>,
    /// Columns of `tokens`.
    pub tokens: BTreeSet<String>,
}

/// Columns without which the database is not a new-api database Tollgate can provision.
const REQUIRED_USERS: &[&str] = &[
    "id",
    "username",
    "password",
    "status",
    "quota",
    "deleted_at",
];
const REQUIRED_TOKENS: &[&str] = &["id", "user_id", "key", "status", "name", "deleted_at"];

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

impl Columns {
    /// Read the columns of `users` and `tokens` in the connection's current schema/database;
    /// an error names what is missing.
    pub async fn discover<C: AsNewapiConn + ?Sized>(
        conn: &mut C,
    ) -> Result<Columns, NewapiDbError> {
        let mut conn = conn.as_newapi_conn();
        let sql = match conn.backend() {
            Backend::Postgres => {
                "SELECT table_name::text AS table_name, column_name::text AS column_name \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name IN ('users', 'tokens')"
            }
            Backend::Mysql => {
                "SELECT CAST(table_name AS CHAR) AS table_name, \
                        CAST(column_name AS CHAR) AS column_name \
                 FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name IN ('users', 'tokens')"
            }
        };
        let rows: Vec<ColumnRow> = with_conn!(&mut conn, |c| diesel::sql_query(sql).load(c).await)?;
        let mut columns = Columns::default();
        for row in rows {
            let set = match row.table_name.as_str() {
                "users" => &mut columns.users,
                _ => &mut columns.tokens,
            };
            set.insert(row.column_name.to_ascii_lowercase());
        }
        columns.check()?;
        Ok(columns)
    }

    fn check(&self) -> Result<(), NewapiDbError> {
        let missing: Vec<String> = REQUIRED_USERS
            .iter()
            .filter(|c| !self.users.contains(**c))
            .map(|c| format!("users.{c}"))
            .chain(
                REQUIRED_TOKENS
                    .iter()
                    .filter(|c| !self.tokens.contains(**c))
                    .map(|c| format!("tokens.{c}")),
            )
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(NewapiDbError::Unavailable(format!(
                "not a new-api database (missing {}); check NEWAPI_DATABASE_URL",
                missing.join(", ")
            )))
        }
    }
}

/// A value to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `bigint`/`int` columns.
    Int(i64),
    /// Text columns.
    Text(String),
    /// Boolean columns (`boolean` on Postgres, `tinyint(1)` on MySQL).
    Bool(bool),
}

/// An INSERT of the given columns that exist in `present`, with placeholders for `backend`;
/// returns the SQL and the values to bind, in order. Postgres answers the new `id`
/// (`RETURNING id`); on MySQL read `LAST_INSERT_ID()` on the same connection.
pub fn insert(
    backend: Backend,
    table: &str,
    present: &BTreeSet<String>,
    values: Vec<(&'static str, Value)>,
) -> (String, Vec<Value>) {
    let kept: Vec<(&str, Value)> = values
        .into_iter()
        .filter(|(name, _)| present.contains(*name))
        .collect();
    let names: Vec<String> = kept.iter().map(|(n, _)| backend.quote(n)).collect();
    let marks: Vec<String> = (1..=kept.len())
        .map(|i| match backend {
            Backend::Postgres => format!("${i}"),
            Backend::Mysql => "?".to_owned(),
        })
        .collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        backend.quote(table),
        names.join(", "),
        marks.join(", ")
    );
    if backend == Backend::Postgres {
        sql.push_str(" RETURNING id");
    }
    (sql, kept.into_iter().map(|(_, v)| v).collect())
}

/// Postgres only: one statement that inserts a user and, with the user's new id as
/// `tokens.user_id`, its token, answering both ids (`user_id`, `token_id`). Atomic without a
/// transaction: a fresh signup is one round trip. `token_values` must not hold `user_id`.
pub fn insert_user_and_token_pg(
    columns: &Columns,
    user_values: Vec<(&'static str, Value)>,
    token_values: Vec<(&'static str, Value)>,
) -> (String, Vec<Value>) {
    let backend = Backend::Postgres;
    let keep = |present: &BTreeSet<String>, values: Vec<(&'static str, Value)>| {
        values
            .into_iter()
            .filter(|(name, _)| present.contains(*name) && *name != "user_id")
            .collect::<Vec<_>>()
    };
    let users = keep(&columns.users, user_values);
    let tokens = keep(&columns.tokens, token_values);
    let names = |cols: &[(&str, Value)]| {
        cols.iter()
            .map(|(n, _)| backend.quote(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let marks = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "WITH u AS (INSERT INTO \"users\" ({}) VALUES ({}) RETURNING id) \
         INSERT INTO \"tokens\" (\"user_id\", {}) SELECT u.id, {} FROM u \
         RETURNING user_id, id AS token_id",
        names(&users),
        marks(1, users.len()),
        names(&tokens),
        marks(users.len() + 1, tokens.len()),
    );
    let binds = users.into_iter().chain(tokens).map(|(_, v)| v).collect();
    (sql, binds)
}

/// The ids [`insert_user_and_token_pg`] answers.
#[derive(QueryableByName)]
pub struct InsertedPair {
    /// The new user's id.
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    /// The new token's id.
    #[diesel(sql_type = BigInt)]
    pub token_id: i64,
}

/// The `id` an INSERT answered.
#[derive(QueryableByName)]
pub struct InsertedId {
    /// The new row's id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn insert_writes_only_present_columns() {
        let present = set(&["key", "name", "group"]);
        let values = vec![
            ("key", Value::Text("k".into())),
            ("cross_group_retry", Value::Bool(false)),
            ("name", Value::Text("n".into())),
            ("group", Value::Text(String::new())),
        ];
        let (sql, binds) = insert(Backend::Postgres, "tokens", &present, values.clone());
        assert_eq!(
            sql,
            r#"INSERT INTO "tokens" ("key", "name", "group") VALUES ($1, $2, $3) RETURNING id"#
        );
        assert_eq!(binds.len(), 3);
        let (sql, _) = insert(Backend::Mysql, "tokens", &present, values);
        assert_eq!(
            sql,
            "INSERT INTO `tokens` (`key`, `name`, `group`) VALUES (?, ?, ?)"
        );
    }

    #[test]
    fn one_statement_for_a_fresh_user_on_postgres() {
        let columns = Columns {
            users: set(&["id", "username", "quota"]),
            tokens: set(&["id", "user_id", "key", "auto_groups"]),
        };
        let (sql, binds) = insert_user_and_token_pg(
            &columns,
            vec![
                ("username", Value::Text("u".into())),
                ("created_at", Value::Int(1)),
                ("quota", Value::Int(5)),
            ],
            vec![("user_id", Value::Int(0)), ("key", Value::Text("k".into()))],
        );
        assert_eq!(
            sql,
            r#"WITH u AS (INSERT INTO "users" ("username", "quota") VALUES ($1, $2) RETURNING id) INSERT INTO "tokens" ("user_id", "key") SELECT u.id, $3 FROM u RETURNING user_id, id AS token_id"#
        );
        assert_eq!(
            binds,
            vec![
                Value::Text("u".into()),
                Value::Int(5),
                Value::Text("k".into())
            ]
        );
    }

    #[test]
    fn missing_required_columns_are_named() {
        let columns = Columns {
            users: set(&["id", "username"]),
            tokens: set(REQUIRED_TOKENS),
        };
        let message = columns.check().unwrap_err().to_string();
        assert!(message.contains("users.password"), "{message}");
        assert!(!message.contains("tokens."), "{message}");
    }
}
