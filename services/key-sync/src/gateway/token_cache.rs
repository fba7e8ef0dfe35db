//! Invalidation of new-api's Redis token cache (`NEWAPI_REDIS_URL` + `NEWAPI_CRYPTO_SECRET`).
//!
//! With Redis, new-api serves a token and its user from the cache for up to
//! `SYNC_FREQUENCY` seconds (default 60) without reading the database, so a token disabled in
//! the database keeps working that long. After a revocation key-sync deletes the token's
//! entry (`token:` + lower-case hex HMAC-SHA256 of the key under new-api's crypto secret,
//! new-api's `model/token_cache.go` and `common/crypto.go`) and, for a disabled user, the
//! user's (`user:<id>`), so the next request reads the database.

use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;
use tollgate_newapi_schema::{token_cache_key, user_cache_key};

/// Deletes new-api's cache entries; connects on first use.
pub struct TokenCacheInvalidator {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    crypto_secret: SecretString,
    timeout: Duration,
}

impl TokenCacheInvalidator {
    /// An invalidator for the Redis at `url` whose every call is bounded by `timeout`.
    pub fn new(
        url: &str,
        crypto_secret: &str,
        timeout: Duration,
    ) -> Result<Self, redis::RedisError> {
        Ok(TokenCacheInvalidator {
            client: redis::Client::open(url)?,
            conn: OnceCell::new(),
            crypto_secret: crypto_secret.into(),
            timeout,
        })
    }

    /// Delete the entries of these keys (without `sk-`) and users.
    pub async fn invalidate(&self, keys: &[&str], users: &[i64]) -> Result<(), String> {
        let names: Vec<String> = keys
            .iter()
            .map(|k| token_cache_key(self.crypto_secret.expose_secret(), k))
            .chain(users.iter().map(|id| user_cache_key(*id)))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let work = async {
            let conn = self
                .conn
                .get_or_try_init(|| ConnectionManager::new(self.client.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let mut conn = conn.clone();
            redis::cmd("DEL")
                .arg(&names)
                .query_async::<i64>(&mut conn)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(format!("Redis did not answer within {:?}", self.timeout)))
    }
}
