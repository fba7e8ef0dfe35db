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

/// A row to insert: (column, value) pairs.
pub type Row = Vec<(&'static str, Value)>;

/// Fresh users and their first tokens in one Postgres statement: `pairs` of (user values,
/// token values), with distinct `username`s among the user values; each token's `user_id`
/// is its user's new id (any `user_id` given is dropped). Only present columns are written.
/// Answers rows [`InsertedPair`] (`username`, `user_id`, `token_id`). A unique violation
/// (a user or key that exists) fails the whole statement.
pub fn insert_users_and_tokens_pg(
    columns: &Columns,
    pairs: Vec<(Row, Row)>,
) -> (String, Vec<Value>) {
    let backend = Backend::Postgres;
    let keep = |present: &BTreeSet<String>, values: Vec<(&'static str, Value)>| {
        values
            .into_iter()
            .filter(|(name, _)| present.contains(*name) && *name != "user_id")
            .collect::<Vec<_>>()
    };
    let mut user_names = Vec::new();
    let mut token_names = Vec::new();
    let mut user_rows = Vec::new();
    let mut token_rows = Vec::new();
    let mut user_binds = Vec::new();
    let mut token_binds = Vec::new();
    for (user, token) in pairs {
        let user = keep(&columns.users, user);
        let username = user
            .iter()
            .find(|(n, _)| *n == "username")
            .map(|(_, v)| v.clone())
            .expect("a user's values name it");
        let token: Vec<_> = std::iter::once(("username", username))
            .chain(keep(&columns.tokens, token))
            .collect();
        user_names = user.iter().map(|(n, _)| backend.quote(n)).collect();
        token_names = token.iter().map(|(n, _)| backend.quote(n)).collect();
        user_rows.push(user.len());
        token_rows.push(token.len());
        user_binds.extend(user.into_iter().map(|(_, v)| v));
        token_binds.extend(token.into_iter().map(|(_, v)| v));
    }
    let mut next = 1;
    let mut rows = |widths: &[usize]| {
        widths
            .iter()
            .map(|&n| {
                let marks: Vec<String> = (next..next + n).map(|i| format!("${i}")).collect();
                next += n;
                format!("({})", marks.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let users_values = rows(&user_rows);
    let tokens_values = rows(&token_rows);
    let token_columns = token_names[1..].join(", ");
    let token_selected = token_names[1..]
        .iter()
        .map(|n| format!("v.{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH u AS (INSERT INTO \"users\" ({}) VALUES {users_values} RETURNING id, username), \
         v ({}) AS (VALUES {tokens_values}), \
         t AS (INSERT INTO \"tokens\" (\"user_id\", {token_columns}) \
               SELECT u.id, {token_selected} FROM v JOIN u ON u.username = v.\"username\" \
               RETURNING user_id, id) \
         SELECT u.username, t.user_id, t.id AS token_id FROM t JOIN u ON u.id = t.user_id",
        user_names.join(", "),
        token_names.join(", "),
    );
    (sql, user_binds.into_iter().chain(token_binds).collect())
}

/// A row of [`insert_users_and_tokens_pg`]'s answer.
#[derive(QueryableByName)]
pub struct InsertedPair {
    /// The new user's username.
    #[diesel(sql_type = Text)]
    pub username: String,
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
    fn one_statement_for_fresh_users_on_postgres() {
        let columns = Columns {
            users: set(&["id", "username", "quota"]),
            tokens: set(&["id", "user_id", "key", "auto_groups"]),
        };
        let pair = |user: &str, key: &str| {
            (
                vec![
                    ("username", Value::Text(user.into())),
                    ("created_at", Value::Int(1)),
                    ("quota", Value::Int(5)),
                ],
                vec![("user_id", Value::Int(0)), ("key", Value::Text(key.into()))],
            )
        };
        let (sql, binds) =
            insert_users_and_tokens_pg(&columns, vec![pair("u1", "k1"), pair("u2", "k2")]);
        assert_eq!(
            sql,
            r#"WITH u AS (INSERT INTO "users" ("username", "quota") VALUES ($1, $2), ($3, $4) RETURNING id, username), v ("username", "key") AS (VALUES ($5, $6), ($7, $8)), t AS (INSERT INTO "tokens" ("user_id", "key") SELECT u.id, v."key" FROM v JOIN u ON u.username = v."username" RETURNING user_id, id) SELECT u.username, t.user_id, t.id AS token_id FROM t JOIN u ON u.id = t.user_id"#
        );
        let text = |s: &str| Value::Text(s.into());
        assert_eq!(
            binds,
            vec![
                text("u1"),
                Value::Int(5),
                text("u2"),
                Value::Int(5),
                text("u1"),
                text("k1"),
                text("u2"),
                text("k2")
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
