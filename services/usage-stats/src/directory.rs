//! Which keys a signed-in user has: key-sync owns them, and tells us over its internal API
//! (`GET /internal/users/{user_id}/keys`, Bearer `INTERNAL_TOKEN`). Answers are reused
//! briefly; concurrent misses for one user share one call.

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use moka::future::Cache;
use tollgate_domain::ids::UserId;
use tollgate_domain::user_keys::UserKeys;

/// Why a user's keys could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// key-sync did not answer in time, or not with 200.
    #[error("key-sync unavailable: {0}")]
    Unavailable(String),
    /// key-sync answered for another user, or with a body we cannot read.
    #[error("key-sync answered wrongly: {0}")]
    BadAnswer(String),
}

/// Where a user's keys come from.
pub trait KeyDirectory: Send + Sync {
    /// Every key of `user` (any status).
    fn keys_of(&self, user: UserId) -> BoxFuture<'_, Result<Arc<UserKeys>, DirectoryError>>;
}

/// key-sync over HTTP, with a short cache.
pub struct KeySyncDirectory {
    base: String,
    token: SecretString,
    client: reqwest::Client,
    cache: Cache<UserId, Arc<UserKeys>>,
}

impl KeySyncDirectory {
    /// Calls to `base` with `token`, each within `timeout`; answers reused for `ttl`.
    pub fn new(base: &str, token: &str, timeout: Duration, ttl: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.into(),
            client: tollgate_web::http_client::http_client(timeout),
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    async fn fetch(&self, user: UserId) -> Result<Arc<UserKeys>, DirectoryError> {
        let res = self
            .client
            .get(format!("{}/internal/users/{user}/keys", self.base))
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| DirectoryError::Unavailable(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(DirectoryError::Unavailable(format!(
                "HTTP {}",
                res.status().as_u16()
            )));
        }
        let keys: UserKeys = res
            .json()
            .await
            .map_err(|e| DirectoryError::BadAnswer(e.without_url().to_string()))?;
        // Never another user's data, whatever key-sync says.
        if keys.user_id != user.0 {
            return Err(DirectoryError::BadAnswer("keys of another user".into()));
        }
        Ok(Arc::new(keys))
    }
}

impl KeyDirectory for KeySyncDirectory {
    fn keys_of(&self, user: UserId) -> BoxFuture<'_, Result<Arc<UserKeys>, DirectoryError>> {
        Box::pin(async move {
            self.cache
                .try_get_with(user, self.fetch(user))
                .await
                .map_err(|e: Arc<DirectoryError>| (*e).clone())
        })
    }
}
