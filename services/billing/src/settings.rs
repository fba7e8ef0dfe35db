//! Settings of billing: the common ones (see `tollgate_web::settings`) plus the quota
//! backend (the KMS or a LiteLLM proxy), the limit webhook secret, Stripe and the recharge
//! fee, parsed into domain types here.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tollgate_domain::backoff::Backoff;
use tollgate_domain::recharge::{FeeError, FeeSchedule};
use tollgate_web::settings::{load, non_blank, require_http_url, require_non_empty};
use tollgate_web::{CommonSettings, SettingsError};

use crate::{DEFAULT_PORT, SERVICE};

/// Which service holds the organisations' quota (`QUOTA_BACKEND`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum QuotaBackend {
    /// The operator's key management service (`KMS_BASE_URL`).
    #[default]
    Kms,
    /// A stock LiteLLM proxy: an organisation's quota is its team's `max_budget`
    /// (`LITELLM_BASE_URL`, `LITELLM_MASTER_KEY`).
    Litellm,
}

/// Raw billing settings, as named in the environment (lower-cased).
#[derive(Debug, Clone, Deserialize)]
pub struct BillingSettings {
    /// `QUOTA_BACKEND`: `kms` (default) or `litellm`.
    #[serde(default)]
    pub quota_backend: QuotaBackend,
    /// `KMS_BASE_URL`: the key management service (required with `QUOTA_BACKEND=kms`).
    #[serde(default)]
    pub kms_base_url: String,
    /// `LITELLM_BASE_URL`: the LiteLLM proxy (required with `QUOTA_BACKEND=litellm`).
    #[serde(default)]
    pub litellm_base_url: Option<String>,
    /// `LITELLM_MASTER_KEY`: the proxy's master key (required with `QUOTA_BACKEND=litellm`).
    #[serde(default)]
    pub litellm_master_key: Option<SecretString>,
    /// `LITELLM_WEBHOOK_SECRET`: HMAC secret of incoming limit webhooks.
    pub litellm_webhook_secret: SecretString,
    /// `LITELLM_ALERT_TOKEN`: the `token` LiteLLM's budget alerts carry in their URL
    /// (`WEBHOOK_URL=…/webhooks/litellm/budget?token=…`); without it alerts are refused.
    #[serde(default)]
    pub litellm_alert_token: Option<SecretString>,
    /// `LITELLM_ALERT_REPLAY_SECS`: an alert body identical to one received less than this
    /// long ago is a replay of it, answered the same (default 300, at least 1).
    #[serde(default = "defaults::litellm_alert_replay_secs")]
    pub litellm_alert_replay_secs: u64,
    /// `ALERT_WEBHOOK_URL`: where operator alerts are posted (Slack-compatible JSON); none:
    /// no alerts.
    #[serde(default)]
    pub alert_webhook_url: Option<String>,
    /// `ALERT_TIMEOUT_MS`: timeout of one alert post (default 5000).
    #[serde(default = "defaults::alert_timeout_ms")]
    pub alert_timeout_ms: u64,
    /// `REQUIRES_ACTION_EXPIRY_SECS`: how long a charge waits for the card holder's 3DS
    /// before it is canceled (default 86400).
    #[serde(default = "defaults::requires_action_expiry_secs")]
    pub requires_action_expiry_secs: u64,
    /// `SUPABASE_JWT_SECRET`: HS256 secret of Supabase access tokens; with it (or
    /// `SUPABASE_URL`) organisation members sign in to their organisations.
    #[serde(default)]
    pub supabase_jwt_secret: Option<SecretString>,
    /// `SUPABASE_URL`: base of the project's JWKS (ES256/RS256 access tokens).
    #[serde(default)]
    pub supabase_url: Option<String>,
    /// `JWKS_CACHE_SECS`: how long a fetched JWKS is trusted (default 600).
    #[serde(default = "defaults::jwks_cache_secs")]
    pub jwks_cache_secs: u64,
    /// `POLL_INTERVAL_SECS`: how often the safety-net poller reads usage and recharges
    /// organisations below their minimum (default 60; 0 = off).
    #[serde(default = "defaults::poll_interval_secs")]
    pub poll_interval_secs: u64,
    /// `STRIPE_SECRET_KEY`: `sk_…`.
    pub stripe_secret_key: SecretString,
    /// `STRIPE_API_BASE`: Stripe, or a local fake (default `https://api.stripe.com`).
    #[serde(default = "defaults::stripe_api_base")]
    pub stripe_api_base: String,
    /// `STRIPE_WEBHOOK_SECRET`: `whsec_…` for `POST /webhooks/stripe` (optional; without it
    /// that route answers 503).
    #[serde(default)]
    pub stripe_webhook_secret: Option<SecretString>,
    /// `STRIPE_TIMEOUT_MS`: timeout of one Stripe call (default 3000).
    #[serde(default = "defaults::stripe_timeout_ms")]
    pub stripe_timeout_ms: u64,
    /// `KMS_TIMEOUT_MS`: timeout of one KMS call (default 800).
    #[serde(default = "defaults::kms_timeout_ms")]
    pub kms_timeout_ms: u64,
    /// `KMS_ATTEMPTS`: attempts to deliver quota before a charge is refunded (default 4).
    #[serde(default = "defaults::kms_attempts")]
    pub kms_attempts: u32,
    /// `KMS_BACKOFF_BASE_MS`: wait before the second attempt, doubled after (default 100).
    #[serde(default = "defaults::kms_backoff_base_ms")]
    pub kms_backoff_base_ms: u64,
    /// `RECHARGE_FEE_PERCENT`: percentage fee, at most two decimals (default 0).
    #[serde(default = "defaults::zero")]
    pub recharge_fee_percent: String,
    /// `RECHARGE_FEE_FIXED`: fixed fee in dollars (default 0).
    #[serde(default = "defaults::zero")]
    pub recharge_fee_fixed: String,
    /// `RECHARGE_CURRENCY`: ISO currency of charges (default `usd`).
    #[serde(default = "defaults::currency")]
    pub recharge_currency: String,
    /// `WEBHOOK_ANSWER_MS`: longest wait before a limit webhook is answered (default 4500);
    /// work still running then goes on and is answered to the event's replays.
    #[serde(default = "defaults::webhook_answer_ms")]
    pub webhook_answer_ms: u64,
    /// `WEBHOOK_ANSWER_CACHE_MB`: memory for answered events kept for their replays, by the
    /// size of their answers (default 16; 0 keeps none: replays read the database).
    #[serde(default = "defaults::webhook_answer_cache_mb")]
    pub webhook_answer_cache_mb: u64,
    /// `RECONCILE_INTERVAL_SECS`: how often unfinished recharges are resolved; the first pass
    /// runs at start-up (default 60).
    #[serde(default = "defaults::reconcile_interval_secs")]
    pub reconcile_interval_secs: u64,
    /// `RECONCILE_GRACE_SECS`: recharges untouched this long are reconcile's; younger ones
    /// belong to a live pipeline (default 60).
    #[serde(default = "defaults::reconcile_grace_secs")]
    pub reconcile_grace_secs: u64,
}

mod defaults {
    pub fn stripe_api_base() -> String {
        "https://api.stripe.com".into()
    }
    pub fn stripe_timeout_ms() -> u64 {
        3_000
    }
    pub fn kms_timeout_ms() -> u64 {
        800
    }
    pub fn kms_attempts() -> u32 {
        4
    }
    pub fn kms_backoff_base_ms() -> u64 {
        100
    }
    pub fn zero() -> String {
        "0".into()
    }
    pub fn currency() -> String {
        "usd".into()
    }
    pub fn webhook_answer_cache_mb() -> u64 {
        16
    }
    pub fn webhook_answer_ms() -> u64 {
        4_500
    }
    pub fn reconcile_interval_secs() -> u64 {
        60
    }
    pub fn reconcile_grace_secs() -> u64 {
        60
    }
    pub fn poll_interval_secs() -> u64 {
        60
    }
    pub fn litellm_alert_replay_secs() -> u64 {
        300
    }
    pub fn jwks_cache_secs() -> u64 {
        600
    }
    pub fn alert_timeout_ms() -> u64 {
        5_000
    }
    pub fn requires_action_expiry_secs() -> u64 {
        86_400
    }
}

/// Everything billing reads from its configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Port, database, admin token, logging, limits.
    pub common: CommonSettings,
    /// The service's own settings.
    pub billing: BillingSettings,
    /// The recharge fee.
    pub fees: FeeSchedule,
}

impl Settings {
    /// Load from defaults, optional file and environment, and validate.
    pub fn load() -> Result<Self, SettingsError> {
        let common = CommonSettings::load(SERVICE, DEFAULT_PORT)?;
        let billing: BillingSettings = load(SERVICE, &[])?;
        Self::new(common, billing)
    }

    /// Validate and assemble (tests build settings this way).
    pub fn new(
        common: CommonSettings,
        mut billing: BillingSettings,
    ) -> Result<Self, SettingsError> {
        match billing.quota_backend {
            QuotaBackend::Kms => {
                require_non_empty("KMS_BASE_URL", &billing.kms_base_url)?;
                require_http_url("KMS_BASE_URL", &billing.kms_base_url)?;
            }
            QuotaBackend::Litellm => {
                let url = billing.litellm_base_url.clone().unwrap_or_default();
                require_non_empty("LITELLM_BASE_URL", &url)?;
                require_http_url("LITELLM_BASE_URL", &url)?;
                let key = billing.litellm_master_key.clone().unwrap_or_default();
                require_non_empty("LITELLM_MASTER_KEY", key.expose_secret())?;
            }
        }
        require_non_empty(
            "LITELLM_WEBHOOK_SECRET",
            billing.litellm_webhook_secret.expose_secret(),
        )?;
        require_non_empty(
            "STRIPE_SECRET_KEY",
            billing.stripe_secret_key.expose_secret(),
        )?;
        require_http_url("STRIPE_API_BASE", &billing.stripe_api_base)?;
        billing.stripe_webhook_secret = non_blank(billing.stripe_webhook_secret.take());
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        billing.supabase_jwt_secret = non_blank(billing.supabase_jwt_secret.take());
        billing.supabase_url = set(billing.supabase_url.take());
        if let Some(url) = &billing.supabase_url {
            require_http_url("SUPABASE_URL", url)?;
        }
        billing.alert_webhook_url = billing.alert_webhook_url.filter(|s| !s.trim().is_empty());
        if let Some(url) = &billing.alert_webhook_url {
            require_http_url("ALERT_WEBHOOK_URL", url)?;
        }
        if billing.requires_action_expiry_secs == 0 {
            return Err(SettingsError::invalid(
                "REQUIRES_ACTION_EXPIRY_SECS",
                "must be positive",
            ));
        }
        billing.litellm_alert_token = non_blank(billing.litellm_alert_token.take());
        if let Some(token) = billing
            .litellm_alert_token
            .as_ref()
            .map(|t| t.expose_secret())
        {
            // It travels in a URL and is all that authenticates an alert.
            if token.len() < 16
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(SettingsError::invalid(
                    "LITELLM_ALERT_TOKEN",
                    "at least 16 characters of A-Z a-z 0-9 - _",
                ));
            }
        }
        let fees = FeeSchedule::parse(&billing.recharge_fee_percent, &billing.recharge_fee_fixed)
            .map_err(|e| {
            let name = match e {
                FeeError::Fixed(_) | FeeError::FixedNegative => "RECHARGE_FEE_FIXED",
                FeeError::Percent(_) | FeeError::PercentRange => "RECHARGE_FEE_PERCENT",
            };
            SettingsError::invalid(name, e.to_string())
        })?;
        for (name, value) in [
            ("STRIPE_TIMEOUT_MS", billing.stripe_timeout_ms),
            ("KMS_TIMEOUT_MS", billing.kms_timeout_ms),
            ("KMS_BACKOFF_BASE_MS", billing.kms_backoff_base_ms),
            ("WEBHOOK_ANSWER_MS", billing.webhook_answer_ms),
        ] {
            if value == 0 {
                return Err(SettingsError::invalid(name, "must be positive"));
            }
        }
        if billing.reconcile_interval_secs == 0 {
            return Err(SettingsError::invalid(
                "RECONCILE_INTERVAL_SECS",
                "must be positive",
            ));
        }
        if billing.kms_attempts == 0 {
            return Err(SettingsError::invalid("KMS_ATTEMPTS", "must be positive"));
        }
        let currency = billing.recharge_currency.trim().to_ascii_lowercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SettingsError::invalid(
                "RECHARGE_CURRENCY",
                "must be a three-letter ISO code",
            ));
        }
        billing.recharge_currency = currency;
        Ok(Self {
            common,
            billing,
            fees,
        })
    }

    /// Timeout of one Stripe call.
    pub fn stripe_timeout(&self) -> Duration {
        Duration::from_millis(self.billing.stripe_timeout_ms)
    }

    /// Timeout of one KMS call.
    pub fn kms_timeout(&self) -> Duration {
        Duration::from_millis(self.billing.kms_timeout_ms)
    }

    /// How old a pending recharge with no charge at Stripe must be before reconcile cancels
    /// it: past the grace, and past any charge call that could still be running.
    pub fn cancel_after(&self) -> Duration {
        Duration::from_secs(self.billing.reconcile_grace_secs)
            .max(self.stripe_timeout() * 2 + Duration::from_secs(5))
    }

    /// Whether organisation members may sign in (a Supabase secret or URL is set).
    pub fn members_sign_in(&self) -> bool {
        self.billing.supabase_jwt_secret.is_some() || self.billing.supabase_url.is_some()
    }

    /// How often the safety-net poller passes; `None` when it is off.
    pub fn poll_interval(&self) -> Option<Duration> {
        (self.billing.poll_interval_secs > 0)
            .then(|| Duration::from_secs(self.billing.poll_interval_secs))
    }

    /// The KMS retry schedule.
    pub fn kms_backoff(&self) -> Backoff {
        Backoff {
            base: Duration::from_millis(self.billing.kms_backoff_base_ms),
            factor: 2,
            cap: Duration::from_secs(2),
        }
    }
}
