//! Simulator settings, and reading them from the environment for the binary.

use std::fmt;

/// Default listen port of the binary (the KMS's usual `localhost:8089`).
pub const DEFAULT_PORT: u16 = 8089;

/// What the simulator needs to send limit webhooks.
#[derive(Clone, Default)]
pub struct SimConfig {
    /// Receiver of the limit webhook (e.g. `http://localhost:8083/webhooks/litellm/limit-exceeded`);
    /// `None` sends nothing. Can be changed at run time with `SimHandle::set_webhook_url`.
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key for `x-webhook-signature` (`LITELLM_WEBHOOK_SECRET`).
    pub webhook_secret: String,
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

/// A missing or unusable setting, named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// `PORT` is not a port number.
    #[error("PORT must be a port number (0-65535), got {0:?}")]
    Port(String),
    /// `KMS_WEBHOOK_URL` is not an http(s) URL.
    #[error("KMS_WEBHOOK_URL must be an http:// or https:// URL, got {0:?}")]
    WebhookUrl(String),
    /// `LITELLM_WEBHOOK_SECRET` is missing although a webhook URL is set.
    #[error("LITELLM_WEBHOOK_SECRET is required when KMS_WEBHOOK_URL is set")]
    MissingSecret,
}

/// The binary's settings: listen port and simulator configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PORT` (default 8089).
    pub port: u16,
    /// `KMS_WEBHOOK_URL` and `LITELLM_WEBHOOK_SECRET`.
    pub sim: SimConfig,
}

impl Settings {
    /// Read `PORT`, `KMS_WEBHOOK_URL` and `LITELLM_WEBHOOK_SECRET` through `var`
    /// (empty values count as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let port = match var("PORT") {
            None => DEFAULT_PORT,
            Some(p) => p.trim().parse().map_err(|_| SettingError::Port(p))?,
        };
        let webhook_url = var("KMS_WEBHOOK_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &webhook_url {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(SettingError::WebhookUrl(url.clone()));
            }
        }
        let webhook_secret = var("LITELLM_WEBHOOK_SECRET").unwrap_or_default();
        if webhook_url.is_some() && webhook_secret.is_empty() {
            return Err(SettingError::MissingSecret);
        }
        Ok(Self {
            port,
            sim: SimConfig {
                webhook_url,
                webhook_secret,
            },
        })
    }

    /// Read the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingError> {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 8089);
        assert_eq!(s.sim.webhook_url, None);
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(matches!(
            settings(&[("PORT", "http")]),
            Err(SettingError::Port(_))
        ));
        assert!(matches!(
            settings(&[("PORT", "70000")]),
            Err(SettingError::Port(_))
        ));
        assert_eq!(
            settings(&[("KMS_WEBHOOK_URL", "http://b:8083/w")]).unwrap_err(),
            SettingError::MissingSecret
        );
        assert!(matches!(
            settings(&[
                ("KMS_WEBHOOK_URL", "not a url"),
                ("LITELLM_WEBHOOK_SECRET", "s")
            ]),
            Err(SettingError::WebhookUrl(_))
        ));
    }

    #[test]
    fn full_settings() {
        let s = settings(&[
            ("PORT", "9000"),
            (
                "KMS_WEBHOOK_URL",
                "http://billing:8083/webhooks/litellm/limit-exceeded",
            ),
            ("LITELLM_WEBHOOK_SECRET", "s3cret"),
        ])
        .unwrap();
        assert_eq!(s.port, 9000);
        assert_eq!(s.sim.webhook_secret, "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
