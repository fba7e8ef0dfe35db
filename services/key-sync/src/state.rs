//! What handlers share.

use tollgate_db::PgPool;

use crate::keys::Keys;

/// Registered as `web::Data<AppState>`.
pub struct AppState {
    /// Key operations.
    pub keys: Keys,
    /// For the admin list.
    pub pool: PgPool,
    /// `SUPABASE_WEBHOOK_SECRET`.
    pub webhook_secret: secrecy::SecretString,
    /// `MAX_KEYS_PER_USER`, for messages.
    pub max_keys_per_user: i64,
    /// Users given keys per reconcile pass.
    pub reconcile_limit: i64,
    /// Keys claimed per sync pass.
    pub sync_batch: i64,
    /// new-api's token cache is invalidated on revocation (`NEWAPI_REDIS_URL`).
    pub invalidates_cache: bool,
}

impl AppState {
    /// When a revocation stops the key on the gateway, as API answers say it.
    pub fn revocation_takes_effect(&self) -> &'static str {
        if self.invalidates_cache {
            "now"
        } else {
            "within new-api's token cache time (SYNC_FREQUENCY, 60 s by default) when new-api \
             caches tokens in Redis, else now"
        }
    }
}
