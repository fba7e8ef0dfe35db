//! Keys as new-api checks them: looked up in new-api's own `tokens` table (only the columns
//! every new-api version has), usable when enabled, not expired and not soft-deleted.
//! Lookups, found or not, are cached briefly so a burst does not hit the database per request.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use tollgate_newapi_schema::schema::tokens;
use tollgate_newapi_schema::{token_status, with_conn, NewapiDbError, NewapiPool, NEVER_EXPIRES};

/// What usage-stats needs of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// `tokens.id`, the `logs.token_id` of its usage.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// 1 enabled, 2 disabled, 3 expired, 4 exhausted.
    pub status: i64,
    /// Unix seconds, -1 never.
    pub expired_time: i64,
    /// Quota left.
    pub remain_quota: i64,
    /// Quota used.
    pub used_quota: i64,
    /// No quota limit.
    pub unlimited_quota: bool,
    /// Whether `model_limits` applies.
    pub model_limits_enabled: bool,
    /// Comma-separated model names.
    pub model_limits: String,
}

impl TokenRecord {
    /// Usable at `now` (unix seconds): enabled and not expired.
    pub fn usable_at(&self, now: i64) -> bool {
        self.status == token_status::ENABLED
            && (self.expired_time == NEVER_EXPIRES || self.expired_time > now)
    }
}

type Row = (
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<bool>,
    Option<String>,
);

/// Find the live (not soft-deleted) token whose key is exactly `key`.
pub async fn find_by_key(
    pool: &NewapiPool,
    key: &str,
) -> Result<Option<TokenRecord>, NewapiDbError> {
    let mut conn = pool.get().await?;
    let rows: Vec<Row> = with_conn!(&mut conn, |c| {
        tokens::table
            .filter(tokens::key.eq(key))
            .filter(tokens::deleted_at.is_null())
            .select((
                tokens::id,
                tokens::key,
                tokens::name,
                tokens::status,
                tokens::expired_time,
                tokens::remain_quota,
                tokens::used_quota,
                tokens::unlimited_quota,
                tokens::model_limits_enabled,
                tokens::model_limits,
            ))
            .limit(2)
            .load(c)
            .await
    })?;
    // MySQL's default collation compares case-insensitively; keys are case-sensitive.
    Ok(rows
        .into_iter()
        .find(|r| r.1.as_deref() == Some(key))
        .map(|r| TokenRecord {
            id: r.0,
            name: r.2.unwrap_or_default(),
            status: r.3.unwrap_or_default(),
            expired_time: r.4.unwrap_or(NEVER_EXPIRES),
            remain_quota: r.5.unwrap_or_default(),
            used_quota: r.6.unwrap_or_default(),
            unlimited_quota: r.7.unwrap_or_default(),
            model_limits_enabled: r.8.unwrap_or_default(),
            model_limits: r.9.unwrap_or_default(),
        }))
}

/// A short-lived cache of key lookups, keyed by the key's SHA-256 (no keys kept in memory).
#[derive(Clone)]
pub struct TokenCache {
    pool: NewapiPool,
    cache: Cache<[u8; 32], Option<Arc<TokenRecord>>>,
}

impl TokenCache {
    /// Cache lookups on `pool` for `ttl`.
    pub fn new(pool: NewapiPool, ttl: Duration) -> Self {
        Self {
            pool,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The token for `key`, from the cache or the database. Concurrent misses for one key
    /// share a single query.
    pub async fn get(&self, key: &str) -> Result<Option<Arc<TokenRecord>>, Arc<NewapiDbError>> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.cache
            .try_get_with(digest, async {
                find_by_key(&self.pool, key).await.map(|t| t.map(Arc::new))
            })
            .await
    }
}
