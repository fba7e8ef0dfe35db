//! Budget alerts as LiteLLM 1.110.2 sends them with `alerting: ["webhook"]` and
//! `WEBHOOK_URL` (`SlackAlerting.budget_alerts` → `send_webhook_alert`):
//! - for a team, only `budget_crossed`, and only from a request rejected because
//!   `spend > max_budget` (the request that crossed succeeded; the alert runs beside the
//!   rejection, which does not wait for it);
//! - one unsigned `POST` of the `WebhookEvent` JSON (compact, LiteLLM's key order), headers
//!   `Content-Type: application/json` and `User-Agent: litellm/1.110.2`; a non-2xx answer
//!   or a timeout is a failure, retried once only when the connection could not be made;
//! - after a successful send, the same (event, team) is silent for 24 h (`budget_alert_ttl`);
//!   a failed send sets nothing, so the next rejected request tries again. There is no lock:
//!   rejections racing each other can each send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::errors::py_float;
use crate::team::Team;

/// How long a sent (event, team) stays silent: LiteLLM's `budget_alert_ttl`.
pub const SILENCE: Duration = Duration::from_secs(24 * 60 * 60);
/// LiteLLM's HTTP client: 600 s in all, 5 s to connect.
const TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Alerts kept in the record; older ones are forgotten.
const KEEP: usize = 1000;
const KEEP_RESPONSE_BYTES: usize = 4096;

/// LiteLLM's `WebhookEvent` (`CallInfo` plus `event`, `event_message`), keys in its order.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEvent {
    /// Spend when the alert was raised (dollars).
    pub spend: f64,
    /// The budget (dollars).
    pub max_budget: Option<f64>,
    /// The soft budget (null on the team path).
    pub soft_budget: Option<f64>,
    /// sha256 of the virtual key whose request was rejected.
    pub token: Option<String>,
    /// Always null here.
    pub customer_id: Option<String>,
    /// The key's user (null: a team key of no user).
    pub user_id: Option<String>,
    /// The team.
    pub team_id: Option<String>,
    /// The team's alias.
    pub team_alias: Option<String>,
    /// The key's organisation (null).
    pub organization_id: Option<String>,
    /// Null on the team path.
    pub user_email: Option<String>,
    /// Null on the team path.
    pub key_alias: Option<String>,
    /// Null.
    pub projected_exceeded_date: Option<String>,
    /// Null.
    pub projected_spend: Option<f64>,
    /// `team`.
    pub event_group: &'static str,
    /// Null.
    pub alert_emails: Option<Vec<String>>,
    /// Null.
    pub max_budget_alert_emails: Option<HashMap<String, Vec<String>>>,
    /// `budget_crossed`.
    pub event: &'static str,
    /// ``Team Budget: Budget Crossed\n Total Budget:`<max_budget>` ``.
    pub event_message: String,
}

impl WebhookEvent {
    /// The `budget_crossed` alert of `team`, raised by a request of the key hashed `token`.
    pub fn budget_crossed(team: &Team, token: String) -> Self {
        let budget = team.max_budget.map_or_else(|| "None".to_owned(), py_float);
        WebhookEvent {
            spend: team.spend,
            max_budget: team.max_budget,
            soft_budget: None,
            token: Some(token),
            customer_id: None,
            user_id: None,
            team_id: Some(team.team_id.clone()),
            team_alias: team.team_alias.clone(),
            organization_id: None,
            user_email: None,
            key_alias: None,
            projected_exceeded_date: None,
            projected_spend: None,
            event_group: "team",
            alert_emails: None,
            max_budget_alert_emails: None,
            event: "budget_crossed",
            event_message: format!("Team Budget: Budget Crossed\n Total Budget:`{budget}`"),
        }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Being sent.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// No connection (after the one retry), a non-2xx answer, or a timeout.
    Failed,
}

/// One alert and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The simulator's id for it (LiteLLM's alerts carry none).
    pub id: u64,
    /// The team.
    pub team_id: String,
    /// The event (`budget_crossed`).
    pub event: String,
    /// The URL it was sent to.
    pub url: String,
    /// The exact body bytes sent (JSON text).
    pub body: String,
    /// When it was raised (RFC 3339, UTC).
    pub created_at: String,
    /// Attempts (1, or 2 after a refused connection).
    pub attempts: u32,
    /// Where it stands.
    pub state: AlertState,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// The transport error, if any.
    pub error: Option<String>,
    /// The receiver's answer (first 4 KiB).
    pub response_body: Option<String>,
}

impl Alert {
    /// The body parsed as JSON.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, Default)]
struct Record {
    next_id: u64,
    alerts: Vec<Alert>,
    /// (event, team) → when its successful send silences it until.
    silenced: HashMap<(String, String), DateTime<Utc>>,
}

/// Sends budget alerts and keeps their record.
#[derive(Debug, Clone)]
pub(crate) struct Alerter {
    url: Arc<RwLock<Option<String>>>,
    record: Arc<Mutex<Record>>,
    client: reqwest::Client,
}

impl Alerter {
    /// Alerts go to `url` (none: nothing is sent, and nothing is silenced).
    pub(crate) fn new(url: Option<String>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent("litellm/1.110.2")
            .build()?;
        Ok(Alerter {
            url: Arc::new(RwLock::new(url)),
            record: Arc::new(Mutex::new(Record::default())),
            client,
        })
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The receiver URL.
    pub(crate) fn url(&self) -> Option<String> {
        self.url
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Change the receiver URL.
    pub(crate) fn set_url(&self, url: Option<String>) {
        *self
            .url
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = url;
    }

    /// Every alert, newest first.
    pub(crate) fn alerts(&self) -> Vec<Alert> {
        self.record().alerts.iter().rev().cloned().collect()
    }

    /// Forget every silence (as if 24 h had passed).
    pub(crate) fn clear_silences(&self) {
        self.record().silenced.clear();
    }

    /// Raise `event` unless its (event, team) is silenced or no URL is set; sent in the
    /// background. Answers the alert's id when one is sent.
    pub(crate) fn raise(&self, event: WebhookEvent, force: bool) -> Option<u64> {
        let url = self.url()?;
        let team = event.team_id.clone().unwrap_or_default();
        let key = (event.event.to_owned(), team.clone());
        let body = serde_json::to_string(&event).expect("the event always serialises");
        let id = {
            let mut record = self.record();
            let now = Utc::now();
            if !force && record.silenced.get(&key).is_some_and(|until| *until > now) {
                return None;
            }
            record.next_id += 1;
            let id = record.next_id;
            if record.alerts.len() >= KEEP {
                record.alerts.remove(0);
            }
            record.alerts.push(Alert {
                id,
                team_id: team,
                event: event.event.to_owned(),
                url: url.clone(),
                body: body.clone(),
                created_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
                attempts: 0,
                state: AlertState::Pending,
                status: None,
                error: None,
                response_body: None,
            });
            id
        };
        let this = self.clone();
        tokio::spawn(async move { this.send(id, key, url, body).await });
        Some(id)
    }

    async fn send(&self, id: u64, key: (String, String), url: String, body: String) {
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let sent = self
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Err(e) if e.is_connect() && attempts == 1 => continue,
                Err(e) => break Err(e.to_string()),
                Ok(response) => {
                    let status = response.status();
                    let mut text = response.text().await.unwrap_or_default();
                    if text.len() > KEEP_RESPONSE_BYTES {
                        let mut cut = KEEP_RESPONSE_BYTES;
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        text.truncate(cut);
                    }
                    break Ok((status, text));
                }
            }
        };
        let mut record = self.record();
        let delivered = matches!(&outcome, Ok((status, _)) if status.is_success());
        if delivered {
            let until = Utc::now()
                + chrono::Duration::from_std(SILENCE).expect("24 h fits a chrono duration");
            record.silenced.insert(key, until);
        }
        if let Some(alert) = record.alerts.iter_mut().find(|a| a.id == id) {
            alert.attempts = attempts;
            alert.state = if delivered {
                AlertState::Delivered
            } else {
                AlertState::Failed
            };
            match outcome {
                Ok((status, text)) => {
                    alert.status = Some(status.as_u16());
                    alert.response_body = Some(text);
                }
                Err(error) => alert.error = Some(error),
            }
        }
        tracing::info!(alert = id, delivered, attempts, "budget alert sent");
    }
}
