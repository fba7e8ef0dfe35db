//! Simulator settings, and reading them from the environment for the binary.

use std::fmt;
use std::time::Duration;

/// Default listen port of the binary (LiteLLM proxy's own default, 4000).
pub const DEFAULT_PORT: u16 = 4000;

/// What the simulator needs: the master key it accepts and where budget alerts go.
#[derive(Clone)]
pub struct SimConfig {
    /// The proxy's master key (`LITELLM_MASTER_KEY`): the only key accepted on `/team/*`.
    pub master_key: String,
    /// Receiver of budget alerts (LiteLLM's `WEBHOOK_URL` with `alerting: ["webhook"]`);
    /// `None` sends nothing. Can be changed at run time with `SimHandle::set_webhook_url`.
    pub webhook_url: Option<String>,
    /// `litellm_settings.default_team_params.budget_duration`: what a team created without
    /// a `budget_duration` field gets (an explicit `null` is kept). `None` by default, as
    /// in LiteLLM.
    pub default_budget_duration: Option<String>,
    /// How often spend reaches what `/team/info` reports (LiteLLM's batch writer: about
    /// 10 s). Zero: at once.
    pub spend_flush: Duration,
}

impl SimConfig {
    /// A simulator accepting `master_key`, sending alerts to `webhook_url`, with LiteLLM's
    /// defaults otherwise (no default duration, spend reported at once).
    pub fn new(master_key: impl Into<String>, webhook_url: Option<String>) -> Self {
        SimConfig {
            master_key: master_key.into(),
            webhook_url,
            default_budget_duration: None,
            spend_flush: Duration::ZERO,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("master_key", &"<redacted>")
            .field("webhook_url", &self.webhook_url)
            .field("default_budget_duration", &self.default_budget_duration)
            .field("spend_flush", &self.spend_flush)
            .finish()
    }
}

/// A missing or unusable setting, named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// `PORT` is not a port number.
    #[error("PORT must be a port number (0-65535), got {0:?}")]
    Port(String),
    /// `LITELLM_MASTER_KEY` is missing or does not start with `sk-`.
    #[error("LITELLM_MASTER_KEY is required and must start with sk- (as LiteLLM requires)")]
    MasterKey,
    /// `WEBHOOK_URL` is not an http(s) URL.
    #[error("WEBHOOK_URL must be an http:// or https:// URL, got {0:?}")]
    WebhookUrl(String),
    /// `DEFAULT_TEAM_BUDGET_DURATION` is not a LiteLLM duration.
    #[error("DEFAULT_TEAM_BUDGET_DURATION must be a duration like 30d or 1mo, got {0:?}")]
    Duration(String),
    /// `SPEND_FLUSH_MS` is not a number of milliseconds.
    #[error("SPEND_FLUSH_MS must be a whole number of milliseconds, got {0:?}")]
    SpendFlush(String),
}

/// The binary's settings: listen port and simulator configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PORT` (default 4000).
    pub port: u16,
    /// `LITELLM_MASTER_KEY` and `WEBHOOK_URL`.
    pub sim: SimConfig,
}

impl Settings {
    /// Read `PORT`, `LITELLM_MASTER_KEY`, `WEBHOOK_URL`, `DEFAULT_TEAM_BUDGET_DURATION` and
    /// `SPEND_FLUSH_MS` through `var` (empty values count as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let port = match var("PORT") {
            None => DEFAULT_PORT,
            Some(p) => p.trim().parse().map_err(|_| SettingError::Port(p))?,
        };
        let master_key = var("LITELLM_MASTER_KEY")
            .map(|k| k.trim().to_owned())
            .filter(|k| k.starts_with("sk-"))
            .ok_or(SettingError::MasterKey)?;
        let webhook_url = var("WEBHOOK_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &webhook_url {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(SettingError::WebhookUrl(url.clone()));
            }
        }
        let default_budget_duration =
            var("DEFAULT_TEAM_BUDGET_DURATION").map(|d| d.trim().to_owned());
        if let Some(d) = &default_budget_duration {
            if !crate::team::duration_valid(d) {
                return Err(SettingError::Duration(d.clone()));
            }
        }
        let spend_flush = match var("SPEND_FLUSH_MS") {
            None => Duration::ZERO,
            Some(ms) => Duration::from_millis(
                ms.trim()
                    .parse()
                    .map_err(|_| SettingError::SpendFlush(ms))?,
            ),
        };
        Ok(Self {
            port,
            sim: SimConfig {
                master_key,
                webhook_url,
                default_budget_duration,
                spend_flush,
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
    fn defaults_need_only_the_master_key() {
        let s = settings(&[("LITELLM_MASTER_KEY", "sk-master")]).unwrap();
        assert_eq!(s.port, 4000);
        assert_eq!(s.sim.webhook_url, None);
        assert!(!format!("{s:?}").contains("sk-master"));
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(settings(&[]).unwrap_err(), SettingError::MasterKey);
        assert_eq!(
            settings(&[("LITELLM_MASTER_KEY", "master")]).unwrap_err(),
            SettingError::MasterKey
        );
        assert!(matches!(
            settings(&[("LITELLM_MASTER_KEY", "sk-m"), ("PORT", "x")]),
            Err(SettingError::Port(_))
        ));
        assert!(matches!(
            settings(&[("LITELLM_MASTER_KEY", "sk-m"), ("WEBHOOK_URL", "nope")]),
            Err(SettingError::WebhookUrl(_))
        ));
        assert!(matches!(
            settings(&[
                ("LITELLM_MASTER_KEY", "sk-m"),
                ("DEFAULT_TEAM_BUDGET_DURATION", "1y")
            ]),
            Err(SettingError::Duration(_))
        ));
        assert!(matches!(
            settings(&[("LITELLM_MASTER_KEY", "sk-m"), ("SPEND_FLUSH_MS", "ten")]),
            Err(SettingError::SpendFlush(_))
        ));
    }

    #[test]
    fn optional_settings() {
        let s = settings(&[
            ("LITELLM_MASTER_KEY", "sk-m"),
            (
                "WEBHOOK_URL",
                "http://billing:8083/webhooks/litellm/budget?token=t",
            ),
            ("DEFAULT_TEAM_BUDGET_DURATION", "30d"),
            ("SPEND_FLUSH_MS", "10000"),
        ])
        .unwrap();
        assert_eq!(s.sim.default_budget_duration.as_deref(), Some("30d"));
        assert_eq!(s.sim.spend_flush, Duration::from_secs(10));
        assert!(s.sim.webhook_url.is_some());
    }
}
