//! new-api's Redis token and user cache (`model/token_cache.go`, `model/user_cache.go`), so
//! tests can show the window in which a disabled token still works and its invalidation:
//! - a token is cached under `token:` + lower-case hex HMAC-SHA256 of the key (without
//!   `sk-`) under new-api's crypto secret (`CRYPTO_SECRET`, else `SESSION_SECRET`), as a
//!   hash of its Go field names, for `SYNC_FREQUENCY` seconds (default 60);
//! - a user under `user:<id>`, the same way;
//! - a miss reads the database and fills the cache; a hit never reads the database.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tollgate_newapi_schema::{token_cache_key, user_cache_key, User};

/// A connected cache.
#[derive(Clone)]
pub(crate) struct TokenCache {
    conn: MultiplexedConnection,
    secret: String,
    ttl: Duration,
}

/// A token row as relay reads it (see `auth::AuthTokenRow`).
pub(crate) type CachedToken = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<bool>,
    Option<String>,
    Option<String>,
);

impl TokenCache {
    /// Connect to `url` (`redis://…`).
    pub(crate) async fn connect(url: &str, secret: &str, ttl: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = client.get_multiplexed_async_connection().await?;
        Ok(TokenCache {
            conn,
            secret: secret.to_owned(),
            ttl,
        })
    }

    async fn hash(&self, key: &str) -> Option<HashMap<String, String>> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(|e| tracing::warn!(error = %e, "token cache read failed"))
            .ok()?;
        (!fields.is_empty()).then_some(fields)
    }

    async fn put(&self, key: &str, fields: &[(&str, String)]) {
        let mut conn = self.conn.clone();
        let written: redis::RedisResult<()> = redis::pipe()
            .hset_multiple(key, fields)
            .ignore()
            .expire(key, self.ttl.as_secs() as i64)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "token cache write failed");
        }
    }

    /// The cached token of `key`, if any.
    pub(crate) async fn token(&self, key: &str) -> Option<CachedToken> {
        let f = self.hash(&token_cache_key(&self.secret, key)).await?;
        let int = |name: &str| f.get(name).and_then(|v| v.parse::<i64>().ok());
        let boolean = |name: &str| f.get(name).map(|v| v == "true");
        let text = |name: &str| f.get(name).cloned();
        Some((
            int("Id")?,
            int("UserId"),
            int("Status"),
            text("Name"),
            int("ExpiredTime"),
            int("RemainQuota"),
            boolean("UnlimitedQuota"),
            boolean("ModelLimitsEnabled"),
            text("ModelLimits"),
            text("Group"),
        ))
    }

    /// Cache a token read from the database.
    pub(crate) async fn put_token(&self, key: &str, t: &CachedToken) {
        let fields = [
            ("Id", t.0.to_string()),
            ("UserId", t.1.unwrap_or_default().to_string()),
            ("Status", t.2.unwrap_or(1).to_string()),
            ("Name", t.3.clone().unwrap_or_default()),
            ("ExpiredTime", t.4.unwrap_or(-1).to_string()),
            ("RemainQuota", t.5.unwrap_or_default().to_string()),
            ("UnlimitedQuota", t.6.unwrap_or_default().to_string()),
            ("ModelLimitsEnabled", t.7.unwrap_or_default().to_string()),
            ("ModelLimits", t.8.clone().unwrap_or_default()),
            ("Group", t.9.clone().unwrap_or_default()),
        ];
        self.put(&token_cache_key(&self.secret, key), &fields).await;
    }

    /// The cached user `id`, if any.
    pub(crate) async fn user(&self, id: i64) -> Option<User> {
        let f = self.hash(&user_cache_key(id)).await?;
        if f.get("CacheSchema").map(String::as_str) != Some("2") {
            return None;
        }
        let int = |name: &str| f.get(name).and_then(|v| v.parse::<i32>().ok());
        Some(User {
            id,
            username: f.get("Username").cloned().unwrap_or_default(),
            status: int("Status")?,
            group: f.get("Group").cloned().unwrap_or_default(),
            quota: int("Quota").unwrap_or_default(),
        })
    }

    /// Cache a user read from the database.
    pub(crate) async fn put_user(&self, u: &User) {
        let fields = [
            ("Id", u.id.to_string()),
            ("Username", u.username.clone()),
            ("Status", u.status.to_string()),
            ("Group", u.group.clone()),
            ("Quota", u.quota.to_string()),
            ("CacheSchema", "2".to_owned()),
        ];
        self.put(&user_cache_key(u.id), &fields).await;
    }
}
