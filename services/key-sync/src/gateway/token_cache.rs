//! Invalidation of new-api's Redis token cache (`NEWAPI_REDIS_URL` + `NEWAPI_CRYPTO_SECRET`).
//!
//! With Redis, new-api serves a token and its user from the cache for up to
//! `SYNC_FREQUENCY` seconds (default 60) without reading the database, so a token disabled in
//! the database keeps working that long. After a revocation key-sync deletes the token's
//! entry (`token:` + lower-case hex HMAC-SHA256 of the key under new-api's crypto secret,
//! new-api's `model/token_cache.go` and `common/crypto.go`) and, for a disabled user, the
//! user's (`user:<id>`), so the next request reads the database.

use std::time::Duration;

use hmac::{Hmac, Mac};
use redis::aio::ConnectionManager;
use sha2::Sha256;
use tokio::sync::OnceCell;

/// new-api's cache key of a token (`key` without `sk-`).
pub fn token_cache_key(crypto_secret: &str, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(crypto_secret.as_bytes()).expect("any key length");
    mac.update(key.as_bytes());
    format!("token:{}", hex::encode(mac.finalize().into_bytes()))
}

/// Deletes new-api's cache entries; connects on first use.
pub struct TokenCacheInvalidator {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    crypto_secret: String,
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
            crypto_secret: crypto_secret.to_owned(),
            timeout,
        })
    }

    /// Delete the entries of these keys (without `sk-`) and users.
    pub async fn invalidate(&self, keys: &[&str], users: &[i64]) -> Result<(), String> {
        let names: Vec<String> = keys
            .iter()
            .map(|k| token_cache_key(&self.crypto_secret, k))
            .chain(users.iter().map(|id| format!("user:{id}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            token_cache_key("Jefe", "what do ya want for nothing?"),
            "token:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
