//! Every query on `gateway_users`: Supabase users as the gateway knows them. Functions take
//! a connection, so callers own transactions.
//!
//! The row outlives the Supabase user (no foreign key): after `auth.users` deletes a user
//! and `api_keys` cascades away, the row still says which new-api user to disable. A
//! deleted user (`deleted_at`) is disabled in the gateway by the sync worker, with the same
//! lease and backoff bookkeeping as keys (`next_disable_at`, `disable_claimed_until`).

use std::time::Duration;
use tollgate_db::PreparedExt;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::gateway_users;
use uuid::Uuid;

/// A row of `gateway_users`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = gateway_users, check_for_backend(diesel::pg::Pg))]
pub struct GatewayUser {
    /// The Supabase user.
    pub user_id: Uuid,
    /// Their new-api user (database mode), once created or found.
    pub newapi_user_id: Option<i64>,
    /// Its username.
    pub newapi_username: Option<String>,
    /// Their email, from the signup webhook.
    pub email: Option<String>,
    /// When the Supabase user was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The deletion landed in the gateway (user and tokens disabled).
    pub disabled: bool,
    /// The last failure to disable.
    pub disable_error: Option<String>,
    /// Attempts to disable.
    pub disable_attempts: i32,
    /// When the next attempt is due.
    pub next_disable_at: Option<DateTime<Utc>>,
    /// An attempt in flight holds the row until then.
    pub disable_claimed_until: Option<DateTime<Utc>>,
    /// When the deletion landed.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The row of `user`.
pub async fn find(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Option<GatewayUser>> {
    gateway_users::table
        .find(user)
        .select(GatewayUser::as_select())
        .first(conn)
        .await
        .optional()
}

/// Remember signing-up `users` (and their emails, when given; an email already known is
/// kept over none), in one statement; answers their rows in no particular order. `users`
/// must be sorted by id and distinct: every batch then locks rows in the same order, so two
/// batches never deadlock.
pub async fn note_many(
    conn: &mut AsyncPgConnection,
    users: &[Uuid],
    emails: &[Option<String>],
) -> QueryResult<Vec<GatewayUser>> {
    // Its commit does not wait for the disk: the batch's next statement (the keys) commits
    // synchronously and so flushes this commit with its own (WAL is flushed in order). A
    // batch that inserts no key leaves only emails of repeated deliveries to lose.
    diesel::sql_query(format!(
        "WITH {} \
         INSERT INTO gateway_users (user_id, email) \
         SELECT n.user_id, n.email FROM unnest($1::uuid[], $2::text[]) AS n(user_id, email) \
         CROSS JOIN recoverable \
         ON CONFLICT (user_id) DO UPDATE SET email = COALESCE(EXCLUDED.email, gateway_users.email) \
         RETURNING *",
        crate::store::RECOVERABLE_COMMIT
    ))
    .bind::<Array<SqlUuid>, _>(users)
    .bind::<Array<Nullable<Text>>, _>(emails)
    .prepared()
    .load(conn)
    .await
}

/// What marking a user deleted did.
#[derive(Debug)]
pub enum Deleted {
    /// Newly deleted; `claimed`: this caller holds the lease for the first attempt.
    Now {
        /// The row.
        row: GatewayUser,
        /// This caller may attempt the disable now.
        claimed: bool,
    },
    /// Already deleted before (a replayed delivery).
    Already(GatewayUser),
}

/// Mark `user` deleted (creating the row if Tollgate never saw them) and due for disabling,
/// claimed for an attempt by this caller.
pub async fn mark_deleted(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    lease: Duration,
) -> QueryResult<Deleted> {
    conn.transaction(async move |conn| {
        diesel::sql_query("INSERT INTO gateway_users (user_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind::<SqlUuid, _>(user)
            .prepared()
            .execute(conn)
            .await?;
        let row: GatewayUser = gateway_users::table
            .find(user)
            .for_update()
            .select(GatewayUser::as_select())
            .first(conn)
            .await?;
        if row.deleted_at.is_some() {
            return Ok(Deleted::Already(row));
        }
        let row = diesel::sql_query(
            "UPDATE gateway_users SET deleted_at = now(), disabled = false, \
                    next_disable_at = now() + make_interval(secs => $2), \
                    disable_claimed_until = now() + make_interval(secs => $2), \
                    disable_attempts = 1 \
             WHERE user_id = $1 RETURNING *",
        )
        .bind::<SqlUuid, _>(user)
        .bind::<Double, _>(lease.as_secs_f64())
        .prepared()
        .get_result(conn)
        .await?;
        Ok(Deleted::Now { row, claimed: true })
    })
    .await
}

/// Claim up to `limit` deleted users due for (another) disable attempt.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<GatewayUser>> {
    diesel::sql_query(
        "UPDATE gateway_users SET disable_claimed_until = now() + make_interval(secs => $2), \
                disable_attempts = disable_attempts + 1 \
         WHERE user_id IN (SELECT user_id FROM gateway_users \
                           WHERE deleted_at IS NOT NULL AND NOT disabled \
                             AND next_disable_at <= now() \
                             AND (disable_claimed_until IS NULL OR disable_claimed_until < now()) \
                           ORDER BY next_disable_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING *",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(lease.as_secs_f64())
    .prepared()
    .load(conn)
    .await
}

/// The user is disabled in the gateway.
pub async fn record_disabled(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    newapi_user_id: Option<i64>,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE gateway_users SET disabled = true, disabled_at = now(), disable_error = NULL, \
                next_disable_at = NULL, disable_claimed_until = NULL, \
                newapi_user_id = COALESCE(newapi_user_id, $2) \
         WHERE user_id = $1",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Nullable<BigInt>, _>(newapi_user_id)
    .prepared()
    .execute(conn)
    .await
    .map(drop)
}

/// Disabling failed: keep the error, retry at `next_at`.
pub async fn record_disable_failure(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    error: &str,
    next_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(gateway_users::table.find(user))
        .set((
            gateway_users::disable_error.eq(Some(error)),
            gateway_users::next_disable_at.eq(Some(next_at)),
            gateway_users::disable_claimed_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Make every deleted, not yet disabled user due now (reconcile). Returns how many.
pub async fn make_due(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE gateway_users SET next_disable_at = now() \
         WHERE deleted_at IS NOT NULL AND NOT disabled \
           AND (disable_claimed_until IS NULL OR disable_claimed_until < now())",
    )
    .prepared()
    .execute(conn)
    .await
}

/// Users with keys or a gateway row who are no longer in Supabase's `auth.users` and not yet
/// marked deleted (none when there is no `auth.users`).
pub async fn vanished(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
    }
    let present = diesel::sql_query("SELECT to_regclass('auth.users') IS NOT NULL AS present")
        .prepared()
        .get_result::<Present>(conn)
        .await?
        .present;
    if !present {
        return Ok(Vec::new());
    }
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT id FROM ( \
             SELECT user_id AS id FROM gateway_users WHERE deleted_at IS NULL \
             UNION SELECT DISTINCT user_id FROM api_keys WHERE status = 1) known \
         WHERE NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = known.id) \
         ORDER BY id LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .prepared()
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
