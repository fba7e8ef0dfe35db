//! Layered configuration with the `config` crate: built-in defaults, then an optional TOML
//! file (`TOLLGATE_CONFIG`, or `config/<service>.toml` when present), then the environment
//! under flat names (`PORT`, `DATABASE_URL`, …; docs/contracts.md#environment).

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A setting that is missing or malformed. Its `Display` is the one line a service prints
/// before exiting; it names the environment variable and never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A required setting has no value.
    #[error("missing required setting {0}")]
    Missing(String),
    /// A setting has a value that cannot be used.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The environment variable name.
        name: String,
        /// Why, without the value.
        reason: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read configuration: {0}")]
    Source(String),
}

impl SettingsError {
    /// An invalid-setting error for `name`.
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        SettingsError::Invalid {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Settings every service has.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    /// Interface to bind (`HOST`, default `0.0.0.0`).
    #[serde(default = "default_host")]
    pub host: String,
    /// Listen port (`PORT`); 0 picks a free one.
    pub port: u16,
    /// Tollgate's Postgres (`DATABASE_URL`; a secret: it may carry a password).
    pub database_url: SecretString,
    /// Bearer token for the admin API (`ADMIN_TOKEN`).
    pub admin_token: SecretString,
    /// `json` (default, production) or `pretty` (local).
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// Log filter in `RUST_LOG` syntax (default `info`).
    #[serde(default = "default_rust_log")]
    pub rust_log: String,
    /// Largest request body in bytes (`REQUEST_BODY_LIMIT`, default 64 KiB).
    #[serde(default = "default_body_limit")]
    pub request_body_limit: usize,
    /// Postgres pool size (`DB_POOL_SIZE`, default 10).
    #[serde(default = "default_pool_size")]
    pub db_pool_size: u32,
    /// Seconds to wait for a database connection (`DB_CONNECT_TIMEOUT_SECS`, default 5).
    #[serde(default = "default_connect_timeout")]
    pub db_connect_timeout_secs: u64,
    /// Seconds in-flight requests get to finish on SIGTERM (`SHUTDOWN_TIMEOUT_SECS`, default 10).
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
}

fn default_host() -> String {
    "0.0.0.0".into()
}
fn default_log_format() -> String {
    "json".into()
}
fn default_rust_log() -> String {
    "info".into()
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_pool_size() -> u32 {
    10
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_shutdown_timeout() -> u64 {
    10
}

impl CommonSettings {
    /// Load for `service`, whose default port is `default_port`, and validate.
    pub fn load(service: &str, default_port: u16) -> Result<Self, SettingsError> {
        let s: CommonSettings = load(service, &[("port", default_port.into())])?;
        s.validate()?;
        Ok(s)
    }

    /// Check values that parse but cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        require_non_empty("DATABASE_URL", self.database_url.expose_secret())?;
        tollgate_db::validate_database_url(self.database_url.expose_secret())
            .map_err(|reason| SettingsError::invalid("DATABASE_URL", reason))?;
        require_non_empty("ADMIN_TOKEN", self.admin_token.expose_secret())?;
        if !matches!(self.log_format.as_str(), "json" | "pretty") {
            return Err(SettingsError::invalid(
                "LOG_FORMAT",
                "must be json or pretty",
            ));
        }
        if self.request_body_limit == 0 {
            return Err(SettingsError::invalid(
                "REQUEST_BODY_LIMIT",
                "must be positive",
            ));
        }
        if self.db_pool_size == 0 {
            return Err(SettingsError::invalid("DB_POOL_SIZE", "must be positive"));
        }
        Ok(())
    }
}

/// Fail with [`SettingsError::Invalid`] unless `value` is an `http(s)://host…` URL.
pub fn require_http_url(name: &str, value: &str) -> Result<(), SettingsError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(SettingsError::invalid(name, "must be an http(s) URL")),
    }
}

/// `value` unless it is blank: a secret set to an empty variable counts as unset.
pub fn non_blank(value: Option<SecretString>) -> Option<SecretString> {
    value.filter(|s| !s.expose_secret().trim().is_empty())
}

/// Fail with [`SettingsError::Missing`] when `value` is empty or blank.
pub fn require_non_empty(name: &str, value: &str) -> Result<(), SettingsError> {
    if value.trim().is_empty() {
        return Err(SettingsError::Missing(name.to_owned()));
    }
    Ok(())
}

/// Deserialize `T` from the layered sources of `service`, over the given defaults.
pub fn load<T: DeserializeOwned>(
    service: &str,
    defaults: &[(&str, config::Value)],
) -> Result<T, SettingsError> {
    let mut builder = config::Config::builder();
    for (key, value) in defaults {
        builder = builder
            .set_default(*key, value.clone())
            .map_err(|e| SettingsError::Source(e.to_string()))?;
    }
    let file = std::env::var("TOLLGATE_CONFIG")
        .ok()
        .unwrap_or_else(|| format!("config/{service}.toml"));
    if Path::new(&file).exists() {
        builder = builder.add_source(config::File::with_name(&file).required(true));
    }
    let source = builder
        .add_source(config::Environment::default().try_parsing(true))
        .build()
        .map_err(|e| SettingsError::Source(e.to_string()))?;
    source.try_deserialize().map_err(describe)
}

/// Turn the config crate's error into one line naming the environment variable.
fn describe(err: config::ConfigError) -> SettingsError {
    let text = err.to_string();
    let missing = between(&text, "missing field `", "`")
        .or_else(|| between(&text, "missing configuration field \"", "\""));
    if let Some(field) = missing {
        return SettingsError::Missing(field.to_uppercase());
    }
    if let Some(key) = between(&text, "for key `", "`") {
        // "invalid type: string \"abc\", expected u16 for key `port`": keep the expectation,
        // never the value (it could be a secret).
        let reason = between(&text, ", expected ", " for key `")
            .map(|what| format!("expected {what}"))
            .unwrap_or_else(|| "invalid value".to_owned());
        return SettingsError::invalid(&key.to_uppercase(), reason);
    }
    SettingsError::Source(text)
}

fn between(text: &str, opener: &str, closer: &str) -> Option<String> {
    let start = text.find(opener)? + opener.len();
    let end = text[start..].find(closer)?;
    Some(text[start..start + end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_field_names_the_variable() {
        let e = config::ConfigError::Message("missing field `database_url`".into());
        assert_eq!(describe(e), SettingsError::Missing("DATABASE_URL".into()));
        let e = config::ConfigError::Message("missing configuration field \"admin_token\"".into());
        assert_eq!(describe(e), SettingsError::Missing("ADMIN_TOKEN".into()));
    }

    #[test]
    fn invalid_type_names_the_variable_not_the_value() {
        let e = config::ConfigError::Message(
            "invalid type: string \"secret-ish\", expected u16 for key `port`".into(),
        );
        let described = describe(e).to_string();
        assert_eq!(described, "invalid setting PORT: expected u16");
        assert!(!described.contains("secret-ish"));
    }

    fn sample() -> CommonSettings {
        CommonSettings {
            host: default_host(),
            port: 0,
            database_url: "postgres://localhost/x".into(),
            admin_token: "t".into(),
            log_format: "json".into(),
            rust_log: "info".into(),
            request_body_limit: 10,
            db_pool_size: 1,
            db_connect_timeout_secs: 1,
            shutdown_timeout_secs: 1,
        }
    }

    #[test]
    fn validation_names_bad_settings() {
        assert!(sample().validate().is_ok());
        let mut s = sample();
        s.database_url = "mysql://x/y".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("invalid setting DATABASE_URL"));
        let mut s = sample();
        s.admin_token = " ".into();
        assert_eq!(
            s.validate().unwrap_err(),
            SettingsError::Missing("ADMIN_TOKEN".into())
        );
        let mut s = sample();
        s.log_format = "xml".into();
        assert!(s.validate().unwrap_err().to_string().contains("LOG_FORMAT"));
    }
}
