//! Operator alerts (`ALERT_WEBHOOK_URL`): Slack-compatible JSON (`text`, plus `event`,
//! `organization_id` and the figures) for auto-recharge switched off, a refund, the quota
//! backend unreachable past the retry budget, a payment needing the holder's action, and a
//! dispute.
//!
//! An alert is written (`billing_alerts`) in the transaction of the state change it reports,
//! keyed by what makes it unique, so each event is alerted once however often the change is
//! retried or replayed. A background task sends due alerts (several replicas share them
//! with `FOR UPDATE SKIP LOCKED`), retrying failures on a jittered exponential schedule; a
//! money path never waits for it. Without `ALERT_WEBHOOK_URL` nothing is written.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tollgate_db::{DbError, PgPool};
use tollgate_domain::backoff::Backoff;

use crate::store::alerts as store;

/// Sends tried before an alert is given up (kept, with its error).
const MAX_ATTEMPTS: i32 = 10;
/// Waits between sends: 1 s doubling to 5 min, jittered.
const SCHEDULE: Backoff = Backoff {
    base: Duration::from_secs(1),
    factor: 2,
    cap: Duration::from_secs(300),
};
/// Alerts sent per batch.
const BATCH: i64 = 20;
/// How often due alerts are looked for when nothing wakes the sender.
const TICK: Duration = Duration::from_secs(1);

/// What an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    /// Three payment failures in a row switched auto-recharge off.
    AutoRechargeDisabled,
    /// Money was returned (quota not delivered, or refunded in Stripe's dashboard).
    Refund,
    /// The quota backend did not take a quota within the retry budget.
    QuotaBackendUnreachable,
    /// A charge needs the card holder (3DS).
    PaymentActionRequired,
    /// The card holder disputed a charge; auto-recharge is paused.
    Dispute,
}

impl AlertEvent {
    /// The `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::AutoRechargeDisabled => "auto_recharge_disabled",
            AlertEvent::Refund => "refund",
            AlertEvent::QuotaBackendUnreachable => "quota_backend_unreachable",
            AlertEvent::PaymentActionRequired => "payment_action_required",
            AlertEvent::Dispute => "dispute",
        }
    }
}

/// One alert to raise.
#[derive(Debug, Clone)]
pub struct Alert {
    /// What it reports.
    pub event: AlertEvent,
    /// What makes it unique (the recharge, the dispute, …), after the event name.
    pub key: String,
    /// Internal organisation id.
    pub organization: i64,
    /// The organisation's id as callers know it.
    pub c_organization_id: String,
    /// The human line.
    pub text: String,
    /// Figures added to the JSON (money in dollars).
    pub figures: Value,
}

impl Alert {
    /// The JSON sent: `text`, `event`, `organization_id`, then the figures.
    pub fn payload(&self) -> Value {
        let mut body = Map::new();
        body.insert("text".into(), json!(self.text));
        body.insert("event".into(), json!(self.event.as_str()));
        body.insert("organization_id".into(), json!(self.c_organization_id));
        if let Value::Object(figures) = &self.figures {
            for (k, v) in figures {
                body.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Value::Object(body)
    }
}

/// Raises alerts (writes them); [`run`] sends them.
pub struct Alerts {
    enabled: bool,
    wake: Arc<tokio::sync::Notify>,
}

impl Alerts {
    /// `enabled`: an `ALERT_WEBHOOK_URL` is configured.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Woken after each alert written.
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.wake)
    }

    /// Write `alert` on `conn` (inside the caller's transaction), once per event and key.
    pub async fn raise(
        &self,
        conn: &mut AsyncPgConnection,
        alert: &Alert,
    ) -> diesel::QueryResult<()> {
        if !self.enabled {
            return Ok(());
        }
        let key = format!("{}:{}", alert.event.as_str(), alert.key);
        let written = store::enqueue(
            conn,
            alert.event.as_str(),
            &key,
            Some(alert.organization),
            &alert.payload(),
        )
        .await?;
        if written {
            tracing::info!(event = alert.event.as_str(), organization = %alert.c_organization_id, "alert raised");
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// Send one batch of due alerts; returns how many were tried.
pub async fn send_due(pool: &PgPool, http: &reqwest::Client, url: &str) -> Result<usize, DbError> {
    let mut conn = pool.get().await?;
    let tried = conn
        .transaction(async move |conn| {
            let due = store::lock_due(conn, BATCH).await?;
            for alert in &due {
                let result = http.post(url).json(&alert.payload).send().await;
                let error = match result {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
                    Err(e) if e.is_timeout() => Some("timed out".into()),
                    Err(_) => Some("unreachable".into()),
                };
                match error {
                    None => store::mark_sent(conn, alert.id).await?,
                    Some(error) => {
                        let attempt = u32::try_from(alert.attempts + 1).unwrap_or(u32::MAX);
                        let next = (alert.attempts + 1 < MAX_ATTEMPTS).then(|| {
                            let wait = SCHEDULE.delay(attempt, rand::random::<f64>());
                            Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()
                        });
                        tracing::warn!(alert = alert.id, event = %alert.event, %error, attempt, "alert not delivered");
                        store::mark_failed(conn, alert.id, &error, next).await?;
                    }
                }
            }
            Ok::<_, diesel::result::Error>(due.len())
        })
        .await?;
    Ok(tried)
}

/// Send due alerts every second, or when woken, until `stop`.
pub async fn run(
    pool: PgPool,
    url: String,
    timeout: Duration,
    wake: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    let http = tollgate_web::http_client::http_client(timeout);
    loop {
        match send_due(&pool, &http, &url).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alert sender failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
            _ = wake.notified() => {}
        }
    }
}
