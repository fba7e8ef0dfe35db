//! Settings of key-sync: the common ones (see `tollgate_web::settings`) plus the gateway,
//! Supabase and key-encryption settings (docs/contracts.md#environment), parsed here, at
//! the edge.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tollgate_domain::backoff::Backoff;
use tollgate_domain::key_cipher::KeyCipher;
use tollgate_web::settings::{load, non_blank, require_http_url, require_non_empty};
use tollgate_web::{CommonSettings, SettingsError};

use crate::{DEFAULT_PORT, SERVICE};

/// Raw key-sync settings, as named in the environment (lower-cased).
#[derive(Debug, Clone, Deserialize)]
pub struct KeySyncSettings {
    /// `NEWAPI_SYNC_MODE`: `import` (default) or `database`.
    #[serde(default)]
    pub newapi_sync_mode: Option<String>,
    /// `NEWAPI_BASE_URL`: the gateway's import API (import mode).
    #[serde(default)]
    pub newapi_base_url: String,
    /// `NEWAPI_ADMIN_TOKEN`: bearer token of new-api's import API (import mode).
    #[serde(default)]
    pub newapi_admin_token: SecretString,
    /// `NEWAPI_DATABASE_URL`: new-api's own database (database mode), `mysql://…` or
    /// `postgres://…`.
    #[serde(default)]
    pub newapi_database_url: Option<SecretString>,
    /// `NEWAPI_POOL_SIZE`: connections to new-api's database in database mode (default 10).
    #[serde(default = "defaults::newapi_pool_size")]
    pub newapi_pool_size: u32,
    /// `NEWAPI_USER_GROUP`: `users.group` of new new-api users (default `default`).
    #[serde(default = "defaults::newapi_user_group")]
    pub newapi_user_group: String,
    /// `NEWAPI_USER_QUOTA`: `users.quota` of new new-api users, quota units (default 0;
    /// new-api refuses requests while it is ≤ 0).
    #[serde(default)]
    pub newapi_user_quota: i64,
    /// `NEWAPI_TOKEN_UNLIMITED`: `tokens.unlimited_quota` of new tokens (default true).
    #[serde(default = "defaults::newapi_token_unlimited")]
    pub newapi_token_unlimited: bool,
    /// `NEWAPI_TOKEN_QUOTA`: `tokens.remain_quota` of new tokens (default 0).
    #[serde(default)]
    pub newapi_token_quota: i64,
    /// `NEWAPI_REDIS_URL`: new-api's Redis, to drop its token cache entry on revocation.
    #[serde(default)]
    pub newapi_redis_url: Option<SecretString>,
    /// `NEWAPI_CRYPTO_SECRET`: new-api's `CRYPTO_SECRET` (or `SESSION_SECRET`), the HMAC key of
    /// its token cache keys.
    #[serde(default)]
    pub newapi_crypto_secret: Option<SecretString>,
    /// `SUPABASE_WEBHOOK_SECRET`: what the DB webhook sends as `Authorization: Bearer …`.
    pub supabase_webhook_secret: SecretString,
    /// `SUPABASE_JWT_SECRET`: HS256 secret of user JWTs (optional if JWKS is used).
    #[serde(default)]
    pub supabase_jwt_secret: Option<SecretString>,
    /// `SUPABASE_URL`: base of the JWKS endpoint (optional if HS256 is used).
    #[serde(default)]
    pub supabase_url: Option<String>,
    /// `KEY_ENCRYPTION_KEY`: 32 bytes, base64.
    pub key_encryption_key: SecretString,
    /// `NEWAPI_TIMEOUT_MS`: timeout of one import call, or of one database-mode transaction
    /// (default 2000).
    #[serde(default = "defaults::newapi_timeout_ms")]
    pub newapi_timeout_ms: u64,
    /// `SYNC_INTERVAL_MS`: how often the worker looks for due keys (default 500).
    #[serde(default = "defaults::sync_interval_ms")]
    pub sync_interval_ms: u64,
    /// `SYNC_BATCH_SIZE`: keys claimed per worker pass (default 50).
    #[serde(default = "defaults::sync_batch_size")]
    pub sync_batch_size: i64,
    /// `SYNC_BACKOFF_BASE_MS`: first retry delay (default 1000).
    #[serde(default = "defaults::sync_backoff_base_ms")]
    pub sync_backoff_base_ms: u64,
    /// `SYNC_BACKOFF_CAP_MS`: longest retry delay (default 300000).
    #[serde(default = "defaults::sync_backoff_cap_ms")]
    pub sync_backoff_cap_ms: u64,
    /// `MAX_KEYS_PER_USER`: cap of `POST /v1/keys` (default 10, the default key included).
    #[serde(default = "defaults::max_keys_per_user")]
    pub max_keys_per_user: i64,
    /// `RECONCILE_INTERVAL_SECS`: periodic reconcile; 0 turns it off (default 300).
    #[serde(default = "defaults::reconcile_interval_secs")]
    pub reconcile_interval_secs: u64,
    /// `INTERNAL_TOKEN`: bearer token of `/internal/*`, the routes other Tollgate services call
    /// (unset: those routes answer 503).
    #[serde(default)]
    pub internal_token: Option<SecretString>,
    /// `JWKS_CACHE_SECS`: how long a fetched JWKS is trusted (default 600).
    #[serde(default = "defaults::jwks_cache_secs")]
    pub jwks_cache_secs: u64,
}

mod defaults {
    pub fn newapi_pool_size() -> u32 {
        10
    }
    pub fn newapi_user_group() -> String {
        "default".into()
    }
    pub fn newapi_token_unlimited() -> bool {
        true
    }
    pub fn newapi_timeout_ms() -> u64 {
        2_000
    }
    pub fn sync_interval_ms() -> u64 {
        500
    }
    pub fn sync_batch_size() -> i64 {
        50
    }
    pub fn sync_backoff_base_ms() -> u64 {
        1_000
    }
    pub fn sync_backoff_cap_ms() -> u64 {
        300_000
    }
    pub fn max_keys_per_user() -> i64 {
        10
    }
    pub fn reconcile_interval_secs() -> u64 {
        300
    }
    pub fn jwks_cache_secs() -> u64 {
        600
    }
}

/// How keys reach new-api (`NEWAPI_SYNC_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// A patched new-api's import API (`NEWAPI_BASE_URL`, `NEWAPI_ADMIN_TOKEN`).
    Import,
    /// A stock new-api's own tables (`NEWAPI_DATABASE_URL`).
    Database,
}

/// Everything key-sync reads from its configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port, database, admin token, logging, limits.
    pub common: CommonSettings,
    /// The service's own settings.
    pub key_sync: KeySyncSettings,
    /// `KEY_ENCRYPTION_KEY`, ready to use.
    pub cipher: KeyCipher,
    /// `NEWAPI_SYNC_MODE`.
    pub mode: SyncMode,
}

impl Settings {
    /// Load from defaults, optional file and environment, and validate.
    pub fn load() -> Result<Self, SettingsError> {
        let common = CommonSettings::load(SERVICE, DEFAULT_PORT)?;
        let key_sync: KeySyncSettings = load(SERVICE, &[])?;
        Self::new(common, key_sync)
    }

    /// Validate and assemble (tests build settings this way).
    pub fn new(
        common: CommonSettings,
        mut key_sync: KeySyncSettings,
    ) -> Result<Self, SettingsError> {
        let mode = match key_sync
            .newapi_sync_mode
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            None | Some("import") => SyncMode::Import,
            Some("database") => SyncMode::Database,
            Some(_) => {
                return Err(SettingsError::invalid(
                    "NEWAPI_SYNC_MODE",
                    "must be import or database",
                ))
            }
        };
        key_sync.newapi_database_url = non_blank(key_sync.newapi_database_url.take());
        key_sync.newapi_redis_url = non_blank(key_sync.newapi_redis_url.take());
        key_sync.newapi_crypto_secret = non_blank(key_sync.newapi_crypto_secret.take());
        match mode {
            SyncMode::Import => {
                require_non_empty("NEWAPI_BASE_URL", &key_sync.newapi_base_url)?;
                require_http_url("NEWAPI_BASE_URL", &key_sync.newapi_base_url)?;
                require_non_empty(
                    "NEWAPI_ADMIN_TOKEN",
                    key_sync.newapi_admin_token.expose_secret(),
                )?;
            }
            SyncMode::Database => {
                let url = key_sync.newapi_database_url.as_ref().ok_or_else(|| {
                    SettingsError::Missing("NEWAPI_DATABASE_URL (NEWAPI_SYNC_MODE=database)".into())
                })?;
                tollgate_newapi_schema::Backend::from_url(url.expose_secret())
                    .map_err(|e| SettingsError::invalid("NEWAPI_DATABASE_URL", e.to_string()))?;
            }
        }
        if !(1..=1000).contains(&key_sync.newapi_pool_size) {
            return Err(SettingsError::invalid(
                "NEWAPI_POOL_SIZE",
                "must be 1 to 1000",
            ));
        }
        if key_sync.newapi_user_group.trim().is_empty()
            || key_sync.newapi_user_group.chars().count() > 64
        {
            return Err(SettingsError::invalid(
                "NEWAPI_USER_GROUP",
                "must be 1 to 64 characters (users.group is varchar(64))",
            ));
        }
        if !(0..=i64::from(i32::MAX)).contains(&key_sync.newapi_user_quota) {
            return Err(SettingsError::invalid(
                "NEWAPI_USER_QUOTA",
                "must be 0 to 2147483647 (users.quota is a 32-bit int)",
            ));
        }
        if key_sync.newapi_token_quota < 0 {
            return Err(SettingsError::invalid(
                "NEWAPI_TOKEN_QUOTA",
                "must not be negative",
            ));
        }
        if key_sync.newapi_redis_url.is_some() != key_sync.newapi_crypto_secret.is_some() {
            return Err(SettingsError::invalid(
                "NEWAPI_REDIS_URL",
                "NEWAPI_REDIS_URL and NEWAPI_CRYPTO_SECRET go together",
            ));
        }
        require_non_empty(
            "SUPABASE_WEBHOOK_SECRET",
            key_sync.supabase_webhook_secret.expose_secret(),
        )?;
        require_non_empty(
            "KEY_ENCRYPTION_KEY",
            key_sync.key_encryption_key.expose_secret(),
        )?;
        let cipher = KeyCipher::from_base64(key_sync.key_encryption_key.expose_secret())
            .map_err(|e| SettingsError::invalid("KEY_ENCRYPTION_KEY", e.to_string()))?;
        key_sync.supabase_jwt_secret = non_blank(key_sync.supabase_jwt_secret.take());
        key_sync.supabase_url = key_sync.supabase_url.filter(|s| !s.trim().is_empty());
        key_sync.internal_token = non_blank(key_sync.internal_token.take());
        if key_sync.supabase_jwt_secret.is_none() && key_sync.supabase_url.is_none() {
            return Err(SettingsError::Missing(
                "SUPABASE_JWT_SECRET or SUPABASE_URL".into(),
            ));
        }
        if let Some(url) = &key_sync.supabase_url {
            require_http_url("SUPABASE_URL", url)?;
        }
        if key_sync.newapi_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "NEWAPI_TIMEOUT_MS",
                "must be positive",
            ));
        }
        if key_sync.sync_batch_size < 1 {
            return Err(SettingsError::invalid(
                "SYNC_BATCH_SIZE",
                "must be positive",
            ));
        }
        if key_sync.max_keys_per_user < 1 {
            return Err(SettingsError::invalid(
                "MAX_KEYS_PER_USER",
                "must be positive",
            ));
        }
        if key_sync.sync_backoff_base_ms == 0
            || key_sync.sync_backoff_cap_ms < key_sync.sync_backoff_base_ms
        {
            return Err(SettingsError::invalid(
                "SYNC_BACKOFF_CAP_MS",
                "must be at least SYNC_BACKOFF_BASE_MS (> 0)",
            ));
        }
        Ok(Self {
            common,
            key_sync,
            cipher,
            mode,
        })
    }

    /// What new new-api users and tokens get (database mode).
    pub fn provisioning(&self) -> crate::gateway::database::Provisioning {
        let ks = &self.key_sync;
        crate::gateway::database::Provisioning {
            user_group: ks.newapi_user_group.trim().to_owned(),
            user_quota: i32::try_from(ks.newapi_user_quota).unwrap_or(i32::MAX),
            token_unlimited: ks.newapi_token_unlimited,
            token_quota: ks.newapi_token_quota,
        }
    }

    /// Timeout of one import call.
    pub fn newapi_timeout(&self) -> Duration {
        Duration::from_millis(self.key_sync.newapi_timeout_ms)
    }

    /// The retry schedule of unsynced keys.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.key_sync.sync_backoff_base_ms),
            factor: 2,
            cap: Duration::from_millis(self.key_sync.sync_backoff_cap_ms),
        }
    }
}
