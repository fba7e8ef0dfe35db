//! Settings of usage-stats: the common ones plus new-api's database(s) and the API's edges.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tollgate_newapi_schema::Backend;
use tollgate_web::settings::{load, non_blank, require_http_url, require_non_empty};
use tollgate_web::{CommonSettings, SettingsError};

use crate::{DEFAULT_PORT, SERVICE};

/// Raw usage-stats settings, as named in the environment (lower-cased).
#[derive(Debug, Clone, Deserialize)]
pub struct UsageSettings {
    /// `NEWAPI_DATABASE_URL`: new-api's database (`mysql://` or `postgres://`), read-only.
    pub newapi_database_url: SecretString,
    /// `NEWAPI_LOG_DATABASE_URL`: where new-api keeps `logs`, when apart (default: the
    /// above): a MySQL or Postgres URL, or ClickHouse's HTTP interface
    /// (`clickhouse://user:password@host:8123/database`, or `http(s)://…?database=`).
    #[serde(default)]
    pub newapi_log_database_url: Option<SecretString>,
    /// `CLICKHOUSE_TIMEOUT_MS`: the longest a ClickHouse query may take, and the longest an
    /// export waits between two reads (default 10000).
    #[serde(default = "defaults::clickhouse_timeout_ms")]
    pub clickhouse_timeout_ms: u64,
    /// `QUOTA_PER_UNIT`: quota units per USD (default 500000).
    #[serde(default = "defaults::quota_per_unit")]
    pub quota_per_unit: i64,
    /// `NEWAPI_POOL_SIZE`: connections to each new-api database (default 10).
    #[serde(default = "defaults::newapi_pool_size")]
    pub newapi_pool_size: u32,
    /// `TOKEN_CACHE_MS`: how long a key lookup (found or not) is reused (default 5000).
    #[serde(default = "defaults::token_cache_ms")]
    pub token_cache_ms: u64,
    /// `INGEST_INTERVAL_MS`: pause between ingest passes once caught up (default 250).
    #[serde(default = "defaults::ingest_interval_ms")]
    pub ingest_interval_ms: u64,
    /// `INGEST_BATCH`: logs read per pass (default 5000).
    #[serde(default = "defaults::ingest_batch")]
    pub ingest_batch: i64,
    /// `INGEST_GAP_GRACE_SECS`: how long a missing log id is waited for (default 600).
    #[serde(default = "defaults::ingest_gap_grace_secs")]
    pub ingest_gap_grace_secs: u64,
    /// `INGEST_MAX_GAPS`: missing log ids waited for at once, the newest kept (default 20000).
    #[serde(default = "defaults::ingest_max_gaps")]
    pub ingest_max_gaps: usize,
    /// `RATE_LIMIT_PER_MIN`: requests per key per minute, per process; 0 turns it off
    /// (default 120).
    #[serde(default = "defaults::rate_limit_per_min")]
    pub rate_limit_per_min: u32,
    /// `RESULT_CACHE_MB`: memory for what is kept under each token's ingest version (half
    /// for the tokens' quarter-hour images, a quarter each for answers and pages); 0 turns
    /// all of it off (default 256).
    #[serde(default = "defaults::result_cache_mb")]
    pub result_cache_mb: u64,
    /// `CORS_ORIGINS`: comma-separated origins allowed to call the API from a browser, or
    /// `*` for any (default: none).
    #[serde(default)]
    pub cors_origins: String,
    /// `KEY_SYNC_URL`: key-sync, which knows each user's keys (unset: the per-user routes
    /// answer 503).
    #[serde(default)]
    pub key_sync_url: Option<String>,
    /// `INTERNAL_TOKEN`: bearer token of key-sync's `/internal/*` (required with
    /// `KEY_SYNC_URL`).
    #[serde(default)]
    pub internal_token: Option<SecretString>,
    /// `KEY_SYNC_TIMEOUT_MS`: timeout of one call to key-sync (default 1000).
    #[serde(default = "defaults::key_sync_timeout_ms")]
    pub key_sync_timeout_ms: u64,
    /// `USER_KEYS_CACHE_MS`: how long a user's key list is reused (default 5000).
    #[serde(default = "defaults::user_keys_cache_ms")]
    pub user_keys_cache_ms: u64,
    /// `SUPABASE_JWT_SECRET`: HS256 secret of user JWTs (one of it and `SUPABASE_URL` is
    /// required with `KEY_SYNC_URL`).
    #[serde(default)]
    pub supabase_jwt_secret: Option<SecretString>,
    /// `SUPABASE_URL`: base of the JWKS endpoint.
    #[serde(default)]
    pub supabase_url: Option<String>,
    /// `JWKS_CACHE_SECS`: how long a fetched JWKS is trusted (default 600).
    #[serde(default = "defaults::jwks_cache_secs")]
    pub jwks_cache_secs: u64,
}

mod defaults {
    pub fn quota_per_unit() -> i64 {
        500_000
    }
    pub fn newapi_pool_size() -> u32 {
        10
    }
    pub fn token_cache_ms() -> u64 {
        5_000
    }
    pub fn ingest_interval_ms() -> u64 {
        250
    }
    pub fn ingest_batch() -> i64 {
        5_000
    }
    pub fn ingest_gap_grace_secs() -> u64 {
        600
    }
    pub fn ingest_max_gaps() -> usize {
        20_000
    }
    pub fn rate_limit_per_min() -> u32 {
        120
    }
    pub fn result_cache_mb() -> u64 {
        256
    }
    pub fn key_sync_timeout_ms() -> u64 {
        1_000
    }
    pub fn user_keys_cache_ms() -> u64 {
        5_000
    }
    pub fn jwks_cache_secs() -> u64 {
        600
    }
    pub fn clickhouse_timeout_ms() -> u64 {
        10_000
    }
}

/// Everything usage-stats reads from its configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port, database, admin token, logging, limits.
    pub common: CommonSettings,
    /// The service's own settings.
    pub usage: UsageSettings,
}

impl Settings {
    /// Load from defaults, optional file and environment, and validate.
    pub fn load() -> Result<Self, SettingsError> {
        let common = CommonSettings::load(SERVICE, DEFAULT_PORT)?;
        Self::new(common, load(SERVICE, &[])?)
    }

    /// Validate and assemble (tests build settings this way).
    pub fn new(common: CommonSettings, mut usage: UsageSettings) -> Result<Self, SettingsError> {
        require_non_empty(
            "NEWAPI_DATABASE_URL",
            usage.newapi_database_url.expose_secret(),
        )?;
        Backend::from_url(usage.newapi_database_url.expose_secret())
            .map_err(|e| SettingsError::invalid("NEWAPI_DATABASE_URL", e.to_string()))?;
        usage.newapi_log_database_url = non_blank(usage.newapi_log_database_url.take());
        if let Some(url) = &usage.newapi_log_database_url {
            let invalid = |e: String| SettingsError::invalid("NEWAPI_LOG_DATABASE_URL", e);
            if crate::clickhouse::dsn::parse(url.expose_secret())
                .map_err(invalid)?
                .is_none()
            {
                Backend::from_url(url.expose_secret()).map_err(|e| invalid(e.to_string()))?;
            }
        }
        if usage.clickhouse_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "CLICKHOUSE_TIMEOUT_MS",
                "must be positive",
            ));
        }
        if usage.quota_per_unit <= 0 {
            return Err(SettingsError::invalid("QUOTA_PER_UNIT", "must be positive"));
        }
        for origin in usage
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty() && *o != "*")
        {
            match url::Url::parse(origin) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.path() == "/"
                        && !origin.ends_with('/') => {}
                _ => {
                    return Err(SettingsError::invalid(
                        "CORS_ORIGINS",
                        "each origin must look like https://portal.example.com (no path)",
                    ))
                }
            }
        }
        if !(1..=100_000).contains(&usage.ingest_batch) {
            return Err(SettingsError::invalid(
                "INGEST_BATCH",
                "must be 1 to 100000",
            ));
        }
        if !(1..=1_000_000).contains(&usage.ingest_max_gaps) {
            return Err(SettingsError::invalid(
                "INGEST_MAX_GAPS",
                "must be 1 to 1000000",
            ));
        }
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        usage.key_sync_url = set(usage.key_sync_url.take());
        usage.internal_token = non_blank(usage.internal_token.take());
        usage.supabase_jwt_secret = non_blank(usage.supabase_jwt_secret.take());
        usage.supabase_url = set(usage.supabase_url.take());
        if let Some(url) = &usage.key_sync_url {
            require_http_url("KEY_SYNC_URL", url)?;
            if usage.internal_token.is_none() {
                return Err(SettingsError::Missing(
                    "INTERNAL_TOKEN (required with KEY_SYNC_URL)".into(),
                ));
            }
            if usage.supabase_jwt_secret.is_none() && usage.supabase_url.is_none() {
                return Err(SettingsError::Missing(
                    "SUPABASE_JWT_SECRET or SUPABASE_URL (required with KEY_SYNC_URL)".into(),
                ));
            }
        }
        if let Some(url) = &usage.supabase_url {
            require_http_url("SUPABASE_URL", url)?;
        }
        if usage.key_sync_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "KEY_SYNC_TIMEOUT_MS",
                "must be positive",
            ));
        }
        if usage.newapi_pool_size == 0 {
            return Err(SettingsError::invalid(
                "NEWAPI_POOL_SIZE",
                "must be positive",
            ));
        }
        Ok(Self { common, usage })
    }

    /// The database holding `logs`.
    pub fn log_database_url(&self) -> &SecretString {
        self.usage
            .newapi_log_database_url
            .as_ref()
            .unwrap_or(&self.usage.newapi_database_url)
    }
}
