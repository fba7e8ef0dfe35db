//! Wiring: settings → migrated pool → KMS and Stripe clients, pipeline, reconciler → server.

use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tollgate_stripe::{PaymentGateway, StripeConfig, StripeGateway};
use tollgate_web::{Application, ReadyCheck};

use crate::alerts::{self, Alerts};
use crate::auto_recharge::AutoRecharge;
use crate::event_desk::EventDesk;
use crate::kms::{Kms, KmsClient, RetryPolicy};
use crate::limit_webhook::LimitWebhooks;
use crate::litellm::LitellmClient;
use crate::litellm_alert::LitellmAlerts;
use crate::membership::Memberships;
use crate::metrics::Metrics;
use crate::organizations::Organizations;
use crate::payment_events::PaymentEvents;
use crate::poller::{self, Poller};
use crate::recharge::{Recharger, RechargerParts};
use crate::reconcile::{self, Reconciler};
use crate::settings::{QuotaBackend, Settings};
use crate::state::AppState;
use crate::stripe_webhook::StripeWebhooks;
use crate::{routes, SERVICE};

/// Build the service against the configured quota backend (`QUOTA_BACKEND`) and Stripe.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let b = &settings.billing;
    let quota: Arc<dyn Kms> = match b.quota_backend {
        QuotaBackend::Kms => Arc::new(KmsClient::new(&b.kms_base_url, settings.kms_timeout())),
        QuotaBackend::Litellm => Arc::new(LitellmClient::new(
            b.litellm_base_url.as_deref().unwrap_or_default(),
            b.litellm_master_key
                .as_ref()
                .map_or("", |k| k.expose_secret()),
            settings.kms_timeout(),
        )),
    };
    let stripe = StripeGateway::new(&StripeConfig {
        secret_key: settings.billing.stripe_secret_key.clone(),
        api_base: settings.billing.stripe_api_base.clone(),
        timeout: settings.stripe_timeout(),
    })
    .map_err(|e| anyhow::anyhow!("cannot build the Stripe client: {e}"))?;
    build_with(settings, quota, Arc::new(stripe)).await
}

/// Build with any KMS and payment gateway: refuse an unreachable or unmigrated database,
/// then bind, and reconcile unfinished recharges at start-up and periodically.
pub async fn build_with(
    settings: Settings,
    kms: Arc<dyn Kms>,
    stripe: Arc<dyn PaymentGateway>,
) -> anyhow::Result<Application> {
    let pool = tollgate_web::cli::connect_migrated(SERVICE, &settings.common).await?;
    let registry = prometheus::Registry::new();
    let metrics = Metrics::register(&registry)?;
    let b = &settings.billing;
    let alerts = Arc::new(Alerts::new(b.alert_webhook_url.is_some()));
    let recharger = Arc::new(Recharger::new(RechargerParts {
        pool: pool.clone(),
        kms,
        stripe,
        fees: settings.fees,
        currency: b.recharge_currency.clone(),
        kms_retry: RetryPolicy {
            attempts: b.kms_attempts,
            backoff: settings.kms_backoff(),
        },
        metrics: metrics.clone(),
        alerts: alerts.clone(),
        action_expiry: Duration::from_secs(b.requires_action_expiry_secs),
    }));
    let wake = Arc::new(tokio::sync::Notify::new());
    let auto = Arc::new(AutoRecharge::new(recharger.clone()));
    let desk = Arc::new(EventDesk::new(
        auto.clone(),
        Duration::from_millis(b.webhook_answer_ms),
        b.webhook_answer_cache_mb.saturating_mul(1 << 20),
        metrics,
    ));
    let state = web::Data::new(AppState {
        limit_webhooks: LimitWebhooks::new(desk.clone(), b.litellm_webhook_secret.clone()),
        litellm_alerts: LitellmAlerts::new(
            desk,
            b.litellm_alert_token.clone(),
            Duration::from_secs(b.litellm_alert_replay_secs),
        ),
        stripe_webhooks: StripeWebhooks::new(
            pool.clone(),
            PaymentEvents::new(recharger.clone()),
            b.stripe_webhook_secret.clone(),
            wake.clone(),
        ),
        organizations: Arc::new(Organizations::new(recharger.clone(), b.quota_backend)),
        memberships: Memberships::new(pool.clone()),
    });
    let verifier = settings.members_sign_in().then(|| {
        web::Data::new(tollgate_supabase_auth::JwtVerifier::new(
            b.supabase_jwt_secret.clone(),
            b.supabase_url.clone(),
            Duration::from_secs(b.jwks_cache_secs),
        ))
    });
    let poll_every = settings.poll_interval();
    let alert_sender = b.alert_webhook_url.clone().map(|url| {
        let (pool, wake, timeout) = (
            pool.clone(),
            alerts.wake(),
            Duration::from_millis(b.alert_timeout_ms),
        );
        move |stop| alerts::run(pool, url, timeout, wake, stop)
    });
    let reconciler = Arc::new(Reconciler::new(
        recharger,
        Duration::from_secs(b.reconcile_grace_secs),
        settings.cancel_after(),
    ));
    let every = Duration::from_secs(b.reconcile_interval_secs);
    let checks = vec![match b.quota_backend {
        QuotaBackend::Kms => quota_ready("kms", &b.kms_base_url, "/health", settings.kms_timeout()),
        QuotaBackend::Litellm => quota_ready(
            "litellm",
            b.litellm_base_url.as_deref().unwrap_or_default(),
            "/health/liveliness",
            settings.kms_timeout(),
        ),
    }];
    let app = Application::start(
        SERVICE,
        &settings.common,
        pool,
        registry,
        checks,
        crate::api_doc::document(),
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone());
            if let Some(verifier) = &verifier {
                cfg.app_data(verifier.clone());
            }
            cfg.configure(routes::configure);
        },
    )?;
    let app = app.with_task("reconcile", move |stop| {
        reconcile::run(reconciler, every, wake, stop)
    });
    let app = match alert_sender {
        Some(sender) => app.with_task("alerts", sender),
        None => app,
    };
    Ok(match poll_every {
        Some(interval) => {
            let poller = Arc::new(Poller::new(auto, interval));
            app.with_task("poller", move |stop| poller::run(poller, interval, stop))
        }
        None => app,
    })
}

/// `/ready` includes the quota backend answering `GET <path>` (the KMS's `/health`, LiteLLM's
/// `/health/liveliness`).
fn quota_ready(name: &'static str, base: &str, path: &str, timeout: Duration) -> ReadyCheck {
    let http = tollgate_web::http_client::http_client(timeout);
    let url = format!("{}{path}", base.trim_end_matches('/'));
    ReadyCheck::new(name, move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                Err(e) if e.is_timeout() => Err("timed out".into()),
                Err(_) => Err("unreachable".into()),
            }
        })
    })
}

/// Build and serve until SIGTERM/SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    build(settings).await?.run_until_stopped().await?;
    Ok(())
}
