//! `NEWAPI_SYNC_MODE=database`: key-sync writes a stock new-api's own `users` and `tokens`
//! (docs/newapi-database-mode.md; facts from new-api's `model/user.go`, `model/token.go`
//! and `middleware/auth.go`, in docs/contracts.md).
//!
//! Per Supabase user one new-api user, `sb_` + the first 17 hex digits of the Supabase id.
//! Its `password` is Tollgate's marker (an HMAC of the Supabase id, not a bcrypt hash, so no
//! password login): a user with that name and that marker is Tollgate's own, even when
//! the crash of a previous attempt kept Tollgate from recording its id; with any other
//! password it is a foreign user, never adopted nor changed. Every change is one
//! transaction; a unique-index race (two replicas creating the same user or token) rolls
//! back and is retried, and then finds the winner's row. No DDL, ever.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;
use tollgate_domain::ids::UserId;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{token_status, with_conn, Backend, NewapiDbError, NewapiPool};

use super::columns::{
    insert, insert_users_and_tokens_pg, Columns, InsertedId, InsertedPair, Value,
};
use super::{shorten, Gateway, GatewayError, KeyState, Landed, Owner, UserDisabled};

/// new-api's API allows this many tokens per user.
pub const MAX_TOKENS_PER_USER: i64 = 1_000;
/// new-api's token names are at most this many characters.
pub const MAX_TOKEN_NAME: usize = 50;
/// new-api's usernames and display names are at most this many characters.
const MAX_USERNAME: usize = 20;
/// Rounds of a change that lost a unique-index race (the first round of a user without a
/// known id inserts the user optimistically; later rounds look it up first).
const ROUNDS: usize = 3;

/// What new users and tokens get (`NEWAPI_USER_GROUP`, `NEWAPI_USER_QUOTA`,
/// `NEWAPI_TOKEN_UNLIMITED`, `NEWAPI_TOKEN_QUOTA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// `users.group` of new users.
    pub user_group: String,
    /// `users.quota` of new users (quota units; new-api refuses requests while ≤ 0).
    pub user_quota: i32,
    /// `tokens.unlimited_quota` of new tokens.
    pub token_unlimited: bool,
    /// `tokens.remain_quota` of new tokens.
    pub token_quota: i64,
}

impl Default for Provisioning {
    fn default() -> Self {
        Provisioning {
            user_group: "default".into(),
            user_quota: 0,
            token_unlimited: true,
            token_quota: 0,
        }
    }
}

/// Run an INSERT built by [`insert`] on connection `$c` (either backend) and evaluate to the
/// new row's id: `RETURNING id` on Postgres, `LAST_INSERT_ID()` on MySQL. Inside a
/// `with_conn!` body (compiled once per backend), so a macro rather than a function.
macro_rules! insert_returning_id {
    ($c:expr, $backend:expr, $sql:expr, $binds:expr) => {{
        let query = bind_values(diesel::sql_query($sql).into_boxed(), $binds);
        if $backend == Backend::Postgres {
            query.get_result::<InsertedId>($c).await?.id
        } else {
            query.execute($c).await?;
            diesel::sql_query("SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS id")
                .get_result::<InsertedId>($c)
                .await?
                .id
        }
    }};
}

/// A token found by key: id, owner, name, status, deleted_at.
type TokenFound = (
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<NaiveDateTime>,
);

/// The database-mode gateway.
pub struct DatabaseGateway {
    pool: NewapiPool,
    columns: OnceCell<Columns>,
    provisioning: Provisioning,
    marker_key: Vec<u8>,
    timeout: Duration,
}

/// new-api's username of a Supabase user: `sb_` + the first 17 hex digits of its id.
pub fn username_for(user: UserId) -> String {
    let hex: String = user.0.simple().to_string().chars().take(17).collect();
    format!("sb_{hex}")
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

fn database_error(e: NewapiDbError) -> GatewayError {
    match e {
        NewapiDbError::Query(e) => GatewayError::Database(shorten(&e.to_string())),
        other => GatewayError::Transport(shorten(&other.to_string())),
    }
}

/// The key is another new-api user's.
fn another_user() -> GatewayError {
    GatewayError::Refused("the key is in new-api for another user; not overwritten".into())
}

/// Why an owned user cannot be used.
fn foreign(username: &str) -> GatewayError {
    GatewayError::Refused(format!(
        "new-api username {username} is taken by a user Tollgate did not create; \
         left for an admin (rename or remove that user, then re-sync)"
    ))
}

impl DatabaseGateway {
    /// A gateway writing through `pool`. `marker_key` keys the password marker of the users
    /// it creates (any secret that stays the same: key-sync uses `KEY_ENCRYPTION_KEY`);
    /// every operation is bounded by `timeout`.
    pub fn new(
        pool: NewapiPool,
        provisioning: Provisioning,
        marker_key: &[u8],
        timeout: Duration,
    ) -> Self {
        DatabaseGateway {
            pool,
            columns: OnceCell::new(),
            provisioning,
            marker_key: marker_key.to_vec(),
            timeout,
        }
    }

    /// The password marker of `user`'s new-api user.
    pub fn marker(&self, user: UserId) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.marker_key).expect("any key length");
        mac.update(b"tollgate newapi user ");
        mac.update(user.0.as_bytes());
        format!("tollgate:{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The columns of `users` and `tokens`, read on first use (so key-sync starts while
    /// new-api's database is down) and then kept.
    pub async fn columns(&self) -> Result<&Columns, GatewayError> {
        self.columns
            .get_or_try_init(|| async {
                let mut conn = self.pool.get().await.map_err(database_error)?;
                let columns = Columns::discover(&mut conn).await.map_err(database_error)?;
                tracing::info!(
                    users = columns.users.len(),
                    tokens = columns.tokens.len(),
                    "read new-api's table layout"
                );
                Ok(columns)
            })
            .await
    }

    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(GatewayError::Transport(format!(
                    "new-api's database did not answer within {:?}",
                    self.timeout
                )))
            })
    }

    fn user_values(
        &self,
        owner: &Owner<'_>,
        username: &str,
        now: i64,
    ) -> Vec<(&'static str, Value)> {
        let display = cut(owner.email.unwrap_or(&owner.user.to_string()), MAX_USERNAME);
        let mut values = vec![
            ("username", Value::Text(username.to_owned())),
            ("password", Value::Text(self.marker(owner.user))),
            ("display_name", Value::Text(display)),
            ("role", Value::Int(1)),
            ("status", Value::Int(1)),
            ("group", Value::Text(self.provisioning.user_group.clone())),
            ("quota", Value::Int(i64::from(self.provisioning.user_quota))),
            ("used_quota", Value::Int(0)),
            ("request_count", Value::Int(0)),
            ("created_at", Value::Int(now)),
            ("last_login_at", Value::Int(0)),
        ];
        if let Some(email) = owner.email {
            values.push(("email", Value::Text(email.to_owned())));
        }
        values
    }

    fn token_values(
        &self,
        user_id: i64,
        key: &KeyState<'_>,
        now: i64,
    ) -> Vec<(&'static str, Value)> {
        vec![
            ("user_id", Value::Int(user_id)),
            ("key", Value::Text(key.key.expose().to_owned())),
            ("status", Value::Int(token_status::ENABLED)),
            ("name", Value::Text(cut(key.name, MAX_TOKEN_NAME))),
            ("created_time", Value::Int(now)),
            ("accessed_time", Value::Int(now)),
            ("expired_time", Value::Int(-1)),
            ("remain_quota", Value::Int(self.provisioning.token_quota)),
            (
                "unlimited_quota",
                Value::Bool(self.provisioning.token_unlimited),
            ),
            ("model_limits_enabled", Value::Bool(false)),
            ("model_limits", Value::Text(String::new())),
            ("allow_ips", Value::Text(String::new())),
            ("used_quota", Value::Int(0)),
            ("group", Value::Text(String::new())),
            ("cross_group_retry", Value::Bool(false)),
        ]
    }

    async fn apply_once(
        &self,
        owner: &Owner<'_>,
        key: &KeyState<'_>,
        columns: &Columns,
        optimistic: bool,
    ) -> Result<Result<Landed, GatewayError>, NewapiDbError> {
        let backend = self.pool.backend();
        let username = username_for(owner.user);
        let marker = self.marker(owner.user);
        let now = chrono::Utc::now().timestamp();
        let (user_sql, user_binds) = insert(
            backend,
            "users",
            &columns.users,
            self.user_values(owner, &username, now),
        );
        let key_text = key.key.expose();
        let name = cut(key.name, MAX_TOKEN_NAME);
        let mut conn = self.pool.get().await?;
        let outcome = with_conn!(&mut conn, |c| {
            c.transaction::<_, DieselError, _>(async |c| {
                // A user created in this transaction has no tokens: its token is inserted
                // straight away (a fresh signup is two INSERTs, like a bare insert).
                let mut created_user = false;
                let user_id = match owner.newapi_user_id {
                    Some(id) => Some(id),
                    // First round of an active key of a user Tollgate has no id for: most
                    // likely a new user, so insert; a unique violation (the user exists)
                    // rolls back and the next round looks it up.
                    None if key.active && optimistic => {
                        created_user = true;
                        Some(insert_returning_id!(c, backend, &user_sql, &user_binds))
                    }
                    None => {
                        let found: Option<(i64, Option<String>, Option<NaiveDateTime>)> =
                            users::table
                                .filter(users::username.eq(&username))
                                .select((users::id, users::password, users::deleted_at))
                                .first(c)
                                .await
                                .optional()?;
                        match found {
                            Some((_, password, _)) if password.as_deref() != Some(&marker) => {
                                return Ok(Err(foreign(&username)));
                            }
                            Some((id, _, Some(_))) => {
                                return Ok(Err(GatewayError::Refused(format!(
                                    "new-api user {username} (id {id}) was deleted in new-api"
                                ))));
                            }
                            Some((id, _, None)) => Some(id),
                            None if !key.active => None,
                            None => {
                                // A key already in new-api cannot be this new user's.
                                let taken: i64 = tokens::table
                                    .filter(tokens::key.eq(key_text))
                                    .count()
                                    .get_result(c)
                                    .await?;
                                if taken > 0 {
                                    return Ok(Err(another_user()));
                                }
                                created_user = true;
                                Some(insert_returning_id!(c, backend, &user_sql, &user_binds))
                            }
                        }
                    }
                };
                let Some(user_id) = user_id else {
                    return Ok(Ok(Landed {
                        token_id: None,
                        newapi_user_id: None,
                    }));
                };
                let landed = |token_id| {
                    Ok(Ok(Landed {
                        token_id,
                        newapi_user_id: Some(user_id),
                    }))
                };
                if created_user {
                    let (sql, binds) = insert(
                        backend,
                        "tokens",
                        &columns.tokens,
                        self.token_values(user_id, key, now),
                    );
                    return landed(Some(insert_returning_id!(c, backend, &sql, &binds)));
                }
                // Soft-deleted tokens too: the unique index covers them.
                let found: Option<TokenFound> =
                    tokens::table
                        .filter(tokens::key.eq(key_text))
                        .select((
                            tokens::id,
                            tokens::user_id,
                            tokens::name,
                            tokens::status,
                            tokens::deleted_at,
                        ))
                        .first(c)
                        .await
                        .optional()?;
                match found {
                    Some((_, owner_id, ..)) if owner_id != Some(user_id) => Ok(Err(another_user())),
                    Some((id, _, _, _, Some(_))) if key.active => Ok(Err(GatewayError::Refused(
                        format!("token {id} was deleted in new-api; rotate the key"),
                    ))),
                    Some((id, _, _, _, Some(_))) => landed(Some(id)),
                    Some((id, _, current_name, status, None)) => {
                        if key.active && current_name.as_deref() != Some(name.as_str()) {
                            diesel::update(tokens::table.find(id))
                                .set(tokens::name.eq(&name))
                                .execute(c)
                                .await?;
                        }
                        if !key.active && status != Some(token_status::DISABLED) {
                            diesel::update(tokens::table.find(id))
                                .set(tokens::status.eq(token_status::DISABLED))
                                .execute(c)
                                .await?;
                        }
                        landed(Some(id))
                    }
                    None if !key.active => landed(None),
                    None => {
                        let held: i64 = tokens::table
                            .filter(tokens::user_id.eq(user_id))
                            .filter(tokens::deleted_at.is_null())
                            .count()
                            .get_result(c)
                            .await?;
                        if held >= MAX_TOKENS_PER_USER {
                            return Ok(Err(GatewayError::Refused(format!(
                                "new-api user {user_id} already has {held} tokens (new-api allows {MAX_TOKENS_PER_USER})"
                            ))));
                        }
                        let (sql, binds) = insert(
                            backend,
                            "tokens",
                            &columns.tokens,
                            self.token_values(user_id, key, now),
                        );
                        landed(Some(insert_returning_id!(c, backend, &sql, &binds)))
                    }
                }
            })
            .await
        })?;
        Ok(outcome)
    }

    /// New users and their first tokens in one Postgres statement, in the order given.
    async fn create_pg(
        &self,
        fresh: &[(Owner<'_>, KeyState<'_>)],
        columns: &Columns,
    ) -> Result<Vec<Landed>, NewapiDbError> {
        let now = chrono::Utc::now().timestamp();
        let usernames: Vec<String> = fresh.iter().map(|(o, _)| username_for(o.user)).collect();
        let pairs = fresh
            .iter()
            .zip(&usernames)
            .map(|((owner, key), username)| {
                (
                    self.user_values(owner, username, now),
                    self.token_values(0, key, now),
                )
            })
            .collect();
        let (sql, binds) = insert_users_and_tokens_pg(columns, pairs);
        let mut conn = self.pool.get().await?;
        let rows: Vec<InsertedPair> = with_conn!(&mut conn, |c| {
            bind_values(diesel::sql_query(&sql).into_boxed(), &binds)
                .load::<InsertedPair>(c)
                .await
        })?;
        usernames
            .iter()
            .map(|username| {
                rows.iter()
                    .find(|row| &row.username == username)
                    .map(|row| Landed {
                        token_id: Some(row.token_id),
                        newapi_user_id: Some(row.user_id),
                    })
                    .ok_or_else(|| {
                        NewapiDbError::Unavailable(format!(
                            "new-api did not answer the row of {username}"
                        ))
                    })
            })
            .collect()
    }

    async fn disable_once(&self, owner: &Owner<'_>) -> Result<UserDisabled, NewapiDbError> {
        let username = username_for(owner.user);
        let marker = self.marker(owner.user);
        let mut conn = self.pool.get().await?;
        let outcome = with_conn!(&mut conn, |c| {
            c.transaction::<_, DieselError, _>(async |c| {
                let user_id = match owner.newapi_user_id {
                    Some(id) => Some(id),
                    // Never a foreign user: only a user with Tollgate's marker.
                    None => users::table
                        .filter(users::username.eq(&username))
                        .filter(users::password.eq(&marker))
                        .select(users::id)
                        .first::<i64>(c)
                        .await
                        .optional()?,
                };
                let Some(user_id) = user_id else {
                    return Ok(UserDisabled::default());
                };
                let keys: Vec<Option<String>> = tokens::table
                    .filter(tokens::user_id.eq(user_id))
                    .select(tokens::key)
                    .load(c)
                    .await?;
                diesel::update(
                    tokens::table
                        .filter(tokens::user_id.eq(user_id))
                        .filter(tokens::status.ne(token_status::DISABLED)),
                )
                .set(tokens::status.eq(token_status::DISABLED))
                .execute(c)
                .await?;
                diesel::update(users::table.find(user_id))
                    .set(users::status.eq(2))
                    .execute(c)
                    .await?;
                Ok(UserDisabled {
                    newapi_user_id: Some(user_id),
                    token_keys: keys.into_iter().flatten().collect(),
                })
            })
            .await
        })?;
        Ok(outcome)
    }
}

/// Bind `values` to a boxed raw query, in order.
fn bind_values<'f, DB>(
    mut query: diesel::query_builder::BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>,
    values: &[Value],
) -> diesel::query_builder::BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Bool>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    bool: diesel::serialize::ToSql<diesel::sql_types::Bool, DB>,
{
    for value in values {
        query = match value {
            Value::Int(v) => query.bind::<diesel::sql_types::BigInt, _>(*v),
            Value::Text(v) => query.bind::<diesel::sql_types::Text, _>(v.clone()),
            Value::Bool(v) => query.bind::<diesel::sql_types::Bool, _>(*v),
        };
    }
    query
}

impl Gateway for DatabaseGateway {
    fn apply<'a>(
        &'a self,
        owner: Owner<'a>,
        key: KeyState<'a>,
    ) -> BoxFuture<'a, Result<Landed, GatewayError>> {
        Box::pin(self.bounded(async move {
            let columns = self.columns().await?;
            let mut first = 1;
            if self.pool.backend() == Backend::Postgres
                && key.active
                && owner.newapi_user_id.is_none()
            {
                // Most likely a new user: one statement; a unique violation (the user or the
                // key exists) means the full path.
                first = 2;
                match self
                    .create_pg(&[(owner.clone(), key.clone())], columns)
                    .await
                {
                    Ok(mut landed) => return Ok(landed.remove(0)),
                    Err(NewapiDbError::Query(e)) if unique_violation(&e) => {}
                    Err(e) => return Err(database_error(e)),
                }
            }
            for round in first..=ROUNDS {
                match self.apply_once(&owner, &key, columns, round == 1).await {
                    Ok(outcome) => return outcome,
                    Err(NewapiDbError::Query(e)) if unique_violation(&e) && round < ROUNDS => {
                        tracing::debug!(round, "lost a unique-index race in new-api; again");
                    }
                    Err(e) => return Err(database_error(e)),
                }
            }
            unreachable!("the last round returns")
        }))
    }

    fn disable_user<'a>(
        &'a self,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<UserDisabled, GatewayError>> {
        Box::pin(self.bounded(async move {
            self.columns().await?;
            self.disable_once(&owner).await.map_err(database_error)
        }))
    }

    fn create_fresh<'a>(
        &'a self,
        fresh: &'a [(Owner<'a>, KeyState<'a>)],
    ) -> Option<BoxFuture<'a, Result<Vec<Landed>, GatewayError>>> {
        if self.pool.backend() != Backend::Postgres {
            return None;
        }
        Some(Box::pin(self.bounded(async move {
            let columns = self.columns().await?;
            match self.create_pg(fresh, columns).await {
                Ok(landed) => Ok(landed),
                // Some user or key of the batch exists: each goes the one-by-one way.
                Err(NewapiDbError::Query(e)) if unique_violation(&e) => Err(GatewayError::Refused(
                    "a user or key of the batch exists in new-api".into(),
                )),
                Err(e) => Err(database_error(e)),
            }
        })))
    }

    fn mode(&self) -> &'static str {
        "database"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fit_new_api() {
        let user = UserId(uuid::Uuid::parse_str("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").unwrap());
        let name = username_for(user);
        assert_eq!(name, "sb_0f1e2d3c4b5a69788");
        assert_eq!(name.chars().count(), MAX_USERNAME);
        assert_eq!(cut("ünïcödé-and-more-than-twenty", 20).chars().count(), 20);
    }
}
