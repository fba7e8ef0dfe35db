//! Every query on `api_keys`. Functions take a connection, so callers own transactions.
//!
//! Sync bookkeeping: `next_sync_at` is when an unsynced key is due; `sync_claimed_until`
//! marks an attempt in flight (a lease). Claiming uses `FOR UPDATE SKIP LOCKED` and the
//! lease, so replicas, the webhook's inline push and manual re-syncs never push one key at
//! the same time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::api_keys;
use uuid::Uuid;

/// A row of `api_keys`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct KeyRow {
    /// Key id.
    pub id: Uuid,
    /// Owner (Supabase user id).
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// The user's signup key.
    pub is_default: bool,
    /// AES-256-GCM `nonce || ciphertext || tag`.
    pub key_ciphertext: Vec<u8>,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// `sk-…last4`.
    pub key_hint: String,
    /// 1 active, 2 disabled.
    pub status: i16,
    /// Imported into new-api.
    pub newapi_synced: bool,
    /// new-api's token id once synced.
    pub newapi_token_id: Option<i64>,
    /// The last sync failure.
    pub sync_error: Option<String>,
    /// Attempts started.
    pub sync_attempts: i32,
    /// When an unsynced key is due.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// An attempt in flight holds the key until then.
    pub sync_claimed_until: Option<DateTime<Utc>>,
    /// When the last attempt started.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// When it was synced.
    pub synced_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A key to insert, already claimed for its first (inline) sync attempt.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewKey {
    /// Key id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// The signup key.
    pub is_default: bool,
    /// Encrypted key.
    pub key_ciphertext: Vec<u8>,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// Display hint.
    pub key_hint: String,
    /// 1 for the inline attempt the creator makes.
    pub sync_attempts: i32,
    /// Due time if the inline attempt fails to record anything.
    pub next_sync_at: DateTime<Utc>,
    /// The creator's lease for its inline attempt.
    pub sync_claimed_until: DateTime<Utc>,
    /// Start of the inline attempt.
    pub last_sync_at: DateTime<Utc>,
}

/// Which keys `GET /admin/keys` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFilter {
    /// Not synced, no error yet.
    Pending,
    /// Not synced, with an error.
    Failed,
    /// In new-api.
    Synced,
}

/// Insert the user's default key unless they have one. `None`: they already do.
pub async fn insert_default(
    conn: &mut AsyncPgConnection,
    new: &NewKey,
) -> QueryResult<Option<KeyRow>> {
    diesel::insert_into(api_keys::table)
        .values(new)
        .on_conflict(api_keys::user_id)
        .filter_target(api_keys::is_default.eq(true))
        .do_nothing()
        .returning(KeyRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The user's default key.
pub async fn find_default(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Option<KeyRow>> {
    api_keys::table
        .filter(api_keys::user_id.eq(user))
        .filter(api_keys::is_default.eq(true))
        .select(KeyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A key by id.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<KeyRow>> {
    api_keys::table
        .find(id)
        .select(KeyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The user already has `max` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReached;

/// Insert another key for its owner, refusing past `max` keys. Concurrent requests of one
/// user serialise on a transaction-scoped advisory lock, so the cap holds.
pub async fn insert_capped(
    conn: &mut AsyncPgConnection,
    new: NewKey,
    max: i64,
) -> QueryResult<Result<KeyRow, LimitReached>> {
    conn.transaction(async move |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(format!("api_keys:{}", new.user_id))
            .execute(conn)
            .await?;
        let count: i64 = api_keys::table
            .filter(api_keys::user_id.eq(new.user_id))
            .count()
            .get_result(conn)
            .await?;
        if count >= max {
            return Ok(Err(LimitReached));
        }
        let row = diesel::insert_into(api_keys::table)
            .values(&new)
            .returning(KeyRow::as_returning())
            .get_result(conn)
            .await?;
        Ok(Ok(row))
    })
    .await
}

/// The user's keys, oldest first.
pub async fn list_for_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<KeyRow>> {
    api_keys::table
        .filter(api_keys::user_id.eq(user))
        .order((api_keys::created_at.asc(), api_keys::id.asc()))
        .select(KeyRow::as_select())
        .load(conn)
        .await
}

/// Claim up to `limit` due, unclaimed, unsynced keys for one attempt each.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<KeyRow>> {
    diesel::sql_query(
        "UPDATE api_keys SET sync_claimed_until = now() + make_interval(secs => $2), \
                sync_attempts = sync_attempts + 1, last_sync_at = now() \
         WHERE id IN (SELECT id FROM api_keys \
                      WHERE NOT newapi_synced AND next_sync_at <= now() \
                        AND (sync_claimed_until IS NULL OR sync_claimed_until < now()) \
                      ORDER BY next_sync_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING *",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn)
    .await
}

/// Claim one key now (manual re-sync), synced or not, unless an attempt is in flight.
pub async fn claim_one(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lease: Duration,
) -> QueryResult<Option<KeyRow>> {
    diesel::sql_query(
        "UPDATE api_keys SET sync_claimed_until = now() + make_interval(secs => $2), \
                sync_attempts = sync_attempts + 1, last_sync_at = now() \
         WHERE id = $1 AND (sync_claimed_until IS NULL OR sync_claimed_until < now()) \
         RETURNING *",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Double, _>(lease.as_secs_f64())
    .get_result(conn)
    .await
    .optional()
}

/// The key is in new-api as `token_id`.
pub async fn record_success(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    token_id: i64,
) -> QueryResult<()> {
    diesel::update(api_keys::table.find(id))
        .set((
            api_keys::newapi_synced.eq(true),
            api_keys::newapi_token_id.eq(Some(token_id)),
            api_keys::sync_error.eq(None::<String>),
            api_keys::synced_at.eq(diesel::dsl::now),
            api_keys::next_sync_at.eq(None::<DateTime<Utc>>),
            api_keys::sync_claimed_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The attempt failed: keep the error, retry at `next_at`. A key another attempt has synced
/// meanwhile stays synced.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    next_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::newapi_synced.eq(false)),
    )
    .set((
        api_keys::sync_error.eq(Some(error)),
        api_keys::next_sync_at.eq(Some(next_at)),
        api_keys::sync_claimed_until.eq(None::<DateTime<Utc>>),
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// Make every unsynced, unclaimed key due now. Returns how many.
pub async fn make_unsynced_due(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .filter(api_keys::newapi_synced.eq(false))
            .filter(
                api_keys::sync_claimed_until
                    .is_null()
                    .or(api_keys::sync_claimed_until.lt(diesel::dsl::now)),
            ),
    )
    .set(api_keys::next_sync_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// Unsynced keys (the pending gauge).
pub async fn count_unsynced(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    api_keys::table
        .filter(api_keys::newapi_synced.eq(false))
        .count()
        .get_result(conn)
        .await
}

/// One page of keys for the admin list, newest first, with the total.
pub async fn admin_page(
    conn: &mut AsyncPgConnection,
    filter: Option<SyncFilter>,
    page: i64,
    page_size: i64,
) -> QueryResult<(Vec<KeyRow>, i64)> {
    let filtered = || {
        let mut q = api_keys::table.into_boxed();
        match filter {
            Some(SyncFilter::Synced) => q = q.filter(api_keys::newapi_synced.eq(true)),
            Some(SyncFilter::Failed) => {
                q = q
                    .filter(api_keys::newapi_synced.eq(false))
                    .filter(api_keys::sync_error.is_not_null())
            }
            Some(SyncFilter::Pending) => {
                q = q
                    .filter(api_keys::newapi_synced.eq(false))
                    .filter(api_keys::sync_error.is_null())
            }
            None => {}
        }
        q
    };
    let total = filtered().count().get_result(conn).await?;
    let rows = filtered()
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .limit(page_size)
        .offset((page - 1) * page_size)
        .select(KeyRow::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

#[derive(QueryableByName)]
struct UserIdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

/// Users in Supabase's `auth.users` without a default key (none when there is no
/// `auth.users`, as in a database that is not Supabase's).
pub async fn users_without_key(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Uuid>> {
    let present = diesel::sql_query("SELECT to_regclass('auth.users') IS NOT NULL AS present")
        .get_result::<Present>(conn)
        .await?
        .present;
    if !present {
        return Ok(Vec::new());
    }
    let rows: Vec<UserIdRow> = diesel::sql_query(
        "SELECT u.id FROM auth.users u \
         WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = u.id AND k.is_default) \
         ORDER BY u.id LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
