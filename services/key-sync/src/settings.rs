//! Settings of key-sync: the common ones (see `tollgate_web::settings`) plus the gateway,
//! Supabase and key-encryption settings of DESIGN.md, parsed into domain types here, at
//! the edge.

use std::time::Duration;

use serde::Deserialize;
use tollgate_domain::backoff::Backoff;
use tollgate_domain::key_cipher::KeyCipher;
use tollgate_web::settings::{load, require_http_url, require_non_empty};
use tollgate_web::{CommonSettings, SettingsError};

use crate::{DEFAULT_PORT, SERVICE};

/// Raw key-sync settings, as named in the environment (lower-cased).
#[derive(Debug, Clone, Deserialize)]
pub struct KeySyncSettings {
    /// `NEWAPI_BASE_URL`: the gateway (its import API and relay).
    pub newapi_base_url: String,
    /// `NEWAPI_ADMIN_TOKEN`: bearer token of new-api's import API.
    pub newapi_admin_token: String,
    /// `SUPABASE_WEBHOOK_SECRET`: what the DB webhook sends as `Authorization: Bearer …`.
    pub supabase_webhook_secret: String,
    /// `SUPABASE_JWT_SECRET`: HS256 secret of user JWTs (optional if JWKS is used).
    #[serde(default)]
    pub supabase_jwt_secret: Option<String>,
    /// `SUPABASE_URL`: base of the JWKS endpoint (optional if HS256 is used).
    #[serde(default)]
    pub supabase_url: Option<String>,
    /// `KEY_ENCRYPTION_KEY`: 32 bytes, base64.
    pub key_encryption_key: String,
    /// `NEWAPI_TIMEOUT_MS`: timeout of one import call (default 2000).
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
    pub internal_token: Option<String>,
    /// `JWKS_CACHE_SECS`: how long a fetched JWKS is trusted (default 600).
    #[serde(default = "defaults::jwks_cache_secs")]
    pub jwks_cache_secs: u64,
}

mod defaults {
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

/// Everything key-sync reads from its configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port, database, admin token, logging, limits.
    pub common: CommonSettings,
    /// The service's own settings.
    pub key_sync: KeySyncSettings,
    /// `KEY_ENCRYPTION_KEY`, ready to use.
    pub cipher: KeyCipher,
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
        require_non_empty("NEWAPI_BASE_URL", &key_sync.newapi_base_url)?;
        require_http_url("NEWAPI_BASE_URL", &key_sync.newapi_base_url)?;
        require_non_empty("NEWAPI_ADMIN_TOKEN", &key_sync.newapi_admin_token)?;
        require_non_empty("SUPABASE_WEBHOOK_SECRET", &key_sync.supabase_webhook_secret)?;
        require_non_empty("KEY_ENCRYPTION_KEY", &key_sync.key_encryption_key)?;
        let cipher = KeyCipher::from_base64(&key_sync.key_encryption_key)
            .map_err(|e| SettingsError::invalid("KEY_ENCRYPTION_KEY", e.to_string()))?;
        key_sync.supabase_jwt_secret = key_sync
            .supabase_jwt_secret
            .filter(|s| !s.trim().is_empty());
        key_sync.supabase_url = key_sync.supabase_url.filter(|s| !s.trim().is_empty());
        key_sync.internal_token = key_sync.internal_token.filter(|s| !s.trim().is_empty());
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
        })
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
