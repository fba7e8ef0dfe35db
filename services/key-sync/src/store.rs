//! Every query on `api_keys`. Functions take a connection, so callers own transactions.
//!
//! Sync bookkeeping: `next_sync_at` is when an unsynced key is due; `sync_claimed_until`
//! marks an attempt in flight (a lease). Claiming uses `FOR UPDATE SKIP LOCKED` and the
//! lease, so replicas, the webhook's inline push and manual re-syncs never push one key at
//! the same time.

use std::time::Duration;
use tollgate_db::PreparedExt;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::api_keys;
use tollgate_domain::page::Page;
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
    /// Changes of what the gateway should hold; an attempt applies one version.
    pub sync_version: i32,
    /// When it was revoked (status 2).
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key that replaced it in a rotation.
    pub replaced_by: Option<Uuid>,
}

impl KeyRow {
    /// Not revoked.
    pub fn is_active(&self) -> bool {
        self.status == 1
    }
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

/// Insert the default keys of several users in one statement, skipping users who have one;
/// answers the rows inserted.
pub async fn insert_defaults(
    conn: &mut AsyncPgConnection,
    new: &[NewKey],
) -> QueryResult<Vec<KeyRow>> {
    diesel::insert_into(api_keys::table)
        .values(new)
        .on_conflict(api_keys::user_id)
        .filter_target(api_keys::is_default.eq(true))
        .do_nothing()
        .returning(KeyRow::as_returning())
        .get_results(conn)
        .await
}

/// The default keys of `users`.
pub async fn find_defaults(
    conn: &mut AsyncPgConnection,
    users: &[Uuid],
) -> QueryResult<Vec<KeyRow>> {
    api_keys::table
        .filter(api_keys::user_id.eq_any(users))
        .filter(api_keys::is_default.eq(true))
        .select(KeyRow::as_select())
        .load(conn)
        .await
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

/// Insert another key for its owner, refusing past `max` active keys. Concurrent requests of one
/// user serialise on a transaction-scoped advisory lock, so the cap holds.
pub async fn insert_capped(
    conn: &mut AsyncPgConnection,
    new: NewKey,
    max: i64,
) -> QueryResult<Result<KeyRow, LimitReached>> {
    conn.transaction(async move |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(format!("api_keys:{}", new.user_id))
            .prepared()
            .execute(conn)
            .await?;
        let count: i64 = api_keys::table
            .filter(api_keys::user_id.eq(new.user_id))
            .filter(api_keys::status.eq(1))
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
    .prepared()
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
    .prepared()
    .get_result(conn)
    .await
    .optional()
}

/// What an attempt that landed tells the store.
#[derive(Debug, Clone, Copy)]
pub struct Success<'a> {
    /// The key.
    pub id: Uuid,
    /// The version of the key the attempt applied.
    pub version: i32,
    /// new-api's token (`None`: a revoked key the gateway never had).
    pub token_id: Option<i64>,
    /// The owner's new-api user and its username (database mode).
    pub newapi_user: Option<(i64, &'a str)>,
}

/// Record a landed attempt, in one statement: the key is synced unless it changed since the
/// attempt read it (then it is due again at once); the owner's new-api user is remembered
/// (first writer wins); and if the owner was deleted while a token was being put in, their
/// disable runs again.
pub async fn record_success(conn: &mut AsyncPgConnection, s: Success<'_>) -> QueryResult<()> {
    let (newapi_user_id, username) = s.newapi_user.unzip();
    diesel::sql_query(format!(
        "WITH {RECOVERABLE_COMMIT}, \
         k AS ( \
             UPDATE api_keys SET newapi_synced = (sync_version = $3), \
                    newapi_token_id = COALESCE($2, newapi_token_id), sync_error = NULL, \
                    synced_at = now(), \
                    next_sync_at = CASE WHEN sync_version = $3 THEN NULL ELSE now() END, \
                    sync_claimed_until = NULL \
             WHERE id = $1 RETURNING user_id) \
         INSERT INTO gateway_users (user_id, newapi_user_id, newapi_username) \
         SELECT user_id, $4, $5 FROM k CROSS JOIN recoverable \
         ON CONFLICT (user_id) DO UPDATE SET \
             newapi_user_id = COALESCE(gateway_users.newapi_user_id, EXCLUDED.newapi_user_id), \
             newapi_username = COALESCE(gateway_users.newapi_username, EXCLUDED.newapi_username), \
             disabled = gateway_users.disabled \
                 AND NOT (gateway_users.deleted_at IS NOT NULL AND $2 IS NOT NULL), \
             next_disable_at = CASE WHEN gateway_users.deleted_at IS NOT NULL AND $2 IS NOT NULL \
                                    THEN now() ELSE gateway_users.next_disable_at END \
         WHERE (gateway_users.newapi_user_id IS NULL AND EXCLUDED.newapi_user_id IS NOT NULL) \
            OR (gateway_users.deleted_at IS NOT NULL AND $2 IS NOT NULL)"
    ))
    .bind::<SqlUuid, _>(s.id)
    .bind::<diesel::sql_types::Nullable<BigInt>, _>(s.token_id)
    .bind::<diesel::sql_types::Integer, _>(s.version)
    .bind::<diesel::sql_types::Nullable<BigInt>, _>(newapi_user_id)
    .bind::<diesel::sql_types::Nullable<Text>, _>(username)
    .prepared()
    .execute(conn)
    .await
    .map(drop)
}

/// [`record_success`] for several landed attempts in one statement, for keys whose owners
/// have a `gateway_users` row (the signup batch notes them first; rows are never deleted),
/// so the owner's part is an update rather than an upsert.
pub async fn record_successes(
    conn: &mut AsyncPgConnection,
    all: &[Success<'_>],
) -> QueryResult<()> {
    let ids: Vec<Uuid> = all.iter().map(|s| s.id).collect();
    let token_ids: Vec<Option<i64>> = all.iter().map(|s| s.token_id).collect();
    let versions: Vec<i32> = all.iter().map(|s| s.version).collect();
    let user_ids: Vec<Option<i64>> = all
        .iter()
        .map(|s| s.newapi_user.map(|(id, _)| id))
        .collect();
    let usernames: Vec<Option<&str>> = all.iter().map(|s| s.newapi_user.map(|(_, n)| n)).collect();
    diesel::sql_query(format!(
        "WITH {RECOVERABLE_COMMIT}, \
         i AS (SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int4[], $4::int8[], $5::text[]) \
               AS i(id, token_id, version, newapi_user_id, username)), \
         k AS ( \
             UPDATE api_keys a SET newapi_synced = (a.sync_version = i.version), \
                    newapi_token_id = COALESCE(i.token_id, a.newapi_token_id), sync_error = NULL, \
                    synced_at = now(), \
                    next_sync_at = CASE WHEN a.sync_version = i.version THEN NULL ELSE now() END, \
                    sync_claimed_until = NULL \
             FROM i WHERE a.id = i.id \
             RETURNING a.user_id, i.token_id, i.newapi_user_id, i.username), \
         o AS (SELECT DISTINCT ON (user_id) * FROM k ORDER BY user_id) \
         UPDATE gateway_users g SET \
             newapi_user_id = COALESCE(g.newapi_user_id, o.newapi_user_id), \
             newapi_username = COALESCE(g.newapi_username, o.username), \
             disabled = g.disabled AND NOT (g.deleted_at IS NOT NULL AND o.token_id IS NOT NULL), \
             next_disable_at = CASE WHEN g.deleted_at IS NOT NULL AND o.token_id IS NOT NULL \
                                    THEN now() ELSE g.next_disable_at END \
         FROM o CROSS JOIN recoverable \
         WHERE g.user_id = o.user_id \
           AND ((g.newapi_user_id IS NULL AND o.newapi_user_id IS NOT NULL) \
                OR (g.deleted_at IS NOT NULL AND o.token_id IS NOT NULL))"
    ))
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Nullable<BigInt>>, _>(token_ids)
    .bind::<Array<diesel::sql_types::Integer>, _>(versions)
    .bind::<Array<Nullable<BigInt>>, _>(user_ids)
    .bind::<Array<Nullable<Text>>, _>(usernames)
    .prepared()
    .execute(conn)
    .await
    .map(drop)
}

/// A CTE, `recoverable`, that makes the statement's own commit not wait for the disk
/// (`synchronous_commit` off for this transaction only). The statement must read
/// `recoverable` (a CTE nobody reads is not run). For records that can be lost in a crash
/// without harm: the outcome of a sync attempt (lost, the key's lease expires and the
/// idempotent attempt runs again, finds the token and records it), never a key itself.
pub(crate) const RECOVERABLE_COMMIT: &str =
    "recoverable AS (SELECT set_config('synchronous_commit', 'off', true) AS setting)";

/// The attempt failed: keep the error, retry at `next_at`. A key another attempt has synced
/// meanwhile stays synced.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    next_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(format!(
        "WITH {RECOVERABLE_COMMIT} \
         UPDATE api_keys SET sync_error = $2, next_sync_at = $3, sync_claimed_until = NULL \
         FROM recoverable WHERE id = $1 AND NOT newapi_synced"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(error)
    .bind::<diesel::sql_types::Timestamptz, _>(next_at)
    .prepared()
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

/// What a user or an admin changes on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new name.
    Rename(String),
    /// Revoke it.
    Revoke,
}

/// The result of [`change`] and [`rotate`].
#[derive(Debug)]
pub enum Changed {
    /// No such key (of that owner).
    NotFound,
    /// The key was already revoked; nothing changed.
    AlreadyRevoked(KeyRow),
    /// Changed. `claimed`: this caller holds the sync lease and should attempt it now
    /// (otherwise an attempt in flight holds it and the worker takes the change after).
    Done {
        /// The key after the change.
        row: KeyRow,
        /// This caller may attempt the sync now.
        claimed: bool,
    },
}

struct LockedKey {
    row: KeyRow,
    claimable: bool,
}

#[derive(QueryableByName)]
struct Claimable {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    claimable: bool,
}

/// Lock key `id` (of `owner`, when given) for a change.
async fn lock_key(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Option<Uuid>,
) -> QueryResult<Option<LockedKey>> {
    let lock: Option<Claimable> = diesel::sql_query(
        "SELECT (sync_claimed_until IS NULL OR sync_claimed_until < now()) AS claimable \
         FROM api_keys WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2) FOR UPDATE",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(owner)
    .prepared()
    .get_result(conn)
    .await
    .optional()?;
    let Some(lock) = lock else {
        return Ok(None);
    };
    let row = api_keys::table
        .find(id)
        .select(KeyRow::as_select())
        .first(conn)
        .await?;
    Ok(Some(LockedKey {
        row,
        claimable: lock.claimable,
    }))
}

/// Apply `change` to a locked key: bump its version, make it due, and claim it when no
/// attempt holds it.
async fn apply_change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &Change,
    replaced_by: Option<Uuid>,
    claim: bool,
    lease: Duration,
) -> QueryResult<KeyRow> {
    let (name, revoke) = match change {
        Change::Rename(name) => (Some(name.as_str()), false),
        Change::Revoke => (None, true),
    };
    diesel::sql_query(
        "UPDATE api_keys SET name = COALESCE($2, name), \
                status = CASE WHEN $3 THEN 2 ELSE status END, \
                revoked_at = CASE WHEN $3 THEN now() ELSE revoked_at END, \
                is_default = CASE WHEN $4::uuid IS NULL THEN is_default ELSE false END, \
                replaced_by = COALESCE($4, replaced_by), \
                sync_version = sync_version + 1, newapi_synced = false, next_sync_at = now(), \
                sync_claimed_until = CASE WHEN $5 THEN now() + make_interval(secs => $6) \
                                          ELSE sync_claimed_until END, \
                sync_attempts = sync_attempts + CASE WHEN $5 THEN 1 ELSE 0 END, \
                last_sync_at = CASE WHEN $5 THEN now() ELSE last_sync_at END \
         WHERE id = $1 RETURNING *",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<diesel::sql_types::Nullable<Text>, _>(name)
    .bind::<diesel::sql_types::Bool, _>(revoke)
    .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(replaced_by)
    .bind::<diesel::sql_types::Bool, _>(claim)
    .bind::<Double, _>(lease.as_secs_f64())
    .prepared()
    .get_result(conn)
    .await
}

/// Rename or revoke key `id` (only `owner`'s, when given). A revoked key changes no more.
pub async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Option<Uuid>,
    change: Change,
    lease: Duration,
) -> QueryResult<Changed> {
    conn.transaction(async move |conn| {
        let Some(locked) = lock_key(conn, id, owner).await? else {
            return Ok(Changed::NotFound);
        };
        if !locked.row.is_active() {
            return Ok(Changed::AlreadyRevoked(locked.row));
        }
        let row = apply_change(conn, id, &change, None, locked.claimable, lease).await?;
        Ok(Changed::Done {
            row,
            claimed: locked.claimable,
        })
    })
    .await
}

/// What a rotation did.
#[derive(Debug)]
pub enum Rotated {
    /// No such key (of that owner).
    NotFound,
    /// The key is revoked.
    Revoked,
    /// Rotated.
    Done(Box<RotatedKeys>),
}

/// The old key revoked (and claimed when `old_claimed`), the new one inserted and claimed
/// for its first attempt.
#[derive(Debug)]
pub struct RotatedKeys {
    /// The revoked key.
    pub old: KeyRow,
    /// This caller may attempt the old key's revocation now.
    pub old_claimed: bool,
    /// The new key.
    pub new: KeyRow,
}

/// Replace key `id` (only `owner`'s, when given) by `new` under the same name (and default
/// flag), revoking it, in one transaction.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Option<Uuid>,
    mut new: NewKey,
    lease: Duration,
) -> QueryResult<Rotated> {
    conn.transaction(async move |conn| {
        let Some(locked) = lock_key(conn, id, owner).await? else {
            return Ok(Rotated::NotFound);
        };
        if !locked.row.is_active() {
            return Ok(Rotated::Revoked);
        }
        new.name = locked.row.name.clone();
        new.is_default = locked.row.is_default;
        // The old key gives up the default flag first: one default per user.
        let old = apply_change(
            conn,
            id,
            &Change::Revoke,
            Some(new.id),
            locked.claimable,
            lease,
        )
        .await?;
        let new = diesel::insert_into(api_keys::table)
            .values(&new)
            .returning(KeyRow::as_returning())
            .get_result(conn)
            .await?;
        Ok(Rotated::Done(Box::new(RotatedKeys {
            old,
            old_claimed: locked.claimable,
            new,
        })))
    })
    .await
}

/// Revoke every active key of `user` (a deleted user), making each due. Returns how many.
pub async fn revoke_all_of_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE api_keys SET status = 2, revoked_at = now(), sync_version = sync_version + 1, \
                newapi_synced = false, next_sync_at = now() \
         WHERE user_id = $1 AND status = 1",
    )
    .bind::<SqlUuid, _>(user)
    .prepared()
    .execute(conn)
    .await
}

/// One page of keys for the admin list, newest first, with the total.
pub async fn admin_page(
    conn: &mut AsyncPgConnection,
    filter: Option<SyncFilter>,
    page: Page,
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
        .limit(page.size)
        .offset(page.offset())
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
        .prepared()
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
    .prepared()
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
