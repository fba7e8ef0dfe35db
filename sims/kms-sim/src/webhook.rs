//! The signed `limit_exceeded` webhook: payload, signature, background delivery with
//! retries, and the record of every delivery.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::money;
use crate::state::OrgView;

/// Attempts per delivery (the first try included).
pub const MAX_ATTEMPTS: u32 = 3;
/// Per-attempt timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before the second attempt; doubled before each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Deliveries kept in the record; older ones are forgotten.
const KEEP_DELIVERIES: usize = 1000;
/// Receiver response bodies are recorded up to this many bytes.
const KEEP_RESPONSE_BYTES: usize = 4096;

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`, the `x-webhook-signature` value.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Being sent, or waiting to be retried.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Attempts exhausted, or the receiver answered a non-retryable status.
    Failed,
}

/// One limit webhook and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The `x-webhook-id` header (a UUID), the same on every attempt.
    pub id: String,
    /// The organisation (`c_organization_id`).
    pub organization_id: String,
    /// The organisation's team (`team_id` in the body).
    pub team_id: String,
    /// The URL it was sent to.
    pub url: String,
    /// The exact body bytes sent (JSON text).
    pub body: String,
    /// The `x-webhook-signature` header sent.
    pub signature: String,
    /// Sent through `POST /_sim/organizations/{id}/limit-exceeded` rather than by usage.
    pub forced: bool,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Where it stands.
    pub state: DeliveryState,
    /// HTTP status of the last attempt, if the receiver answered.
    pub status: Option<u16>,
    /// Transport error of the last attempt, if it had one.
    pub error: Option<String>,
    /// Body of the receiver's last answer (truncated to 4 KiB).
    pub response_body: Option<String>,
}

impl Delivery {
    /// The body parsed as JSON.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The webhook body, fields in the documented order.
#[derive(Serialize)]
struct LimitExceeded<'a> {
    event_type: &'static str,
    team_id: &'a str,
    current_usage: serde_json::Value,
    current_limit: serde_json::Value,
    exceeded_by: serde_json::Value,
    timestamp: String,
    organization_id: &'a str,
}

/// The exact body for `org` now.
fn payload(org: &OrgView) -> String {
    let body = LimitExceeded {
        event_type: "limit_exceeded",
        team_id: &org.l_team_id,
        current_usage: money::to_json(org.usage_cents),
        current_limit: money::to_json(org.quota_cents),
        exceeded_by: money::to_json((org.usage_cents - org.quota_cents).max(0)),
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        organization_id: &org.c_organization_id,
    };
    serde_json::to_string(&body).expect("the payload always serialises")
}

/// The shared, append-only record of deliveries.
#[derive(Debug, Clone, Default)]
struct DeliveryLog(Arc<Mutex<Vec<Delivery>>>);

impl DeliveryLog {
    fn push(&self, delivery: Delivery) {
        let mut log = self.lock();
        if log.len() >= KEEP_DELIVERIES {
            log.remove(0);
        }
        log.push(delivery);
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut Delivery)) {
        if let Some(delivery) = self.lock().iter_mut().rev().find(|d| d.id == id) {
            change(delivery);
        }
    }

    fn newest_first(&self) -> Vec<Delivery> {
        self.lock().iter().rev().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Delivery>> {
        // Updates are field assignments; a poisoned log is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends limit webhooks in the background on the runtime the simulator was spawned on.
pub(crate) struct Notifier {
    client: reqwest::Client,
    secret: String,
    url: RwLock<Option<String>>,
    log: DeliveryLog,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Notifier")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier for `url` signing with `secret`; must be called inside a Tokio runtime.
    pub(crate) fn new(url: Option<String>, secret: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            secret,
            url: RwLock::new(url),
            log: DeliveryLog::default(),
            runtime: tokio::runtime::Handle::try_current()?,
        })
    }

    /// The configured receiver URL.
    pub(crate) fn url(&self) -> Option<String> {
        self.url.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Change (or remove) the receiver URL for later webhooks.
    pub(crate) fn set_url(&self, url: Option<String>) {
        *self.url.write().unwrap_or_else(|e| e.into_inner()) = url;
    }

    /// Every delivery, newest first.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.log.newest_first()
    }

    /// Record and start sending a webhook for `org`; the delivery id, or `None` when no
    /// receiver URL is configured.
    pub(crate) fn limit_exceeded(&self, org: &OrgView, forced: bool) -> Option<String> {
        let Some(url) = self.url() else {
            tracing::warn!(org = %org.c_organization_id, "limit exceeded but no webhook URL is configured");
            return None;
        };
        let body = payload(org);
        let delivery = Delivery {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.c_organization_id.clone(),
            team_id: org.l_team_id.clone(),
            url,
            signature: signature(&self.secret, body.as_bytes()),
            body,
            forced,
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            attempts: 0,
            state: DeliveryState::Pending,
            status: None,
            error: None,
            response_body: None,
        };
        let id = delivery.id.clone();
        tracing::info!(id, org = %org.c_organization_id, forced, "sending limit webhook");
        self.log.push(delivery.clone());
        let sender = Sender {
            client: self.client.clone(),
            log: self.log.clone(),
            delivery,
        };
        self.runtime.spawn(sender.run());
        Some(id)
    }
}

/// One delivery in flight.
struct Sender {
    client: reqwest::Client,
    log: DeliveryLog,
    delivery: Delivery,
}

impl Sender {
    async fn run(self) {
        let id = self.delivery.id.as_str();
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let outcome = self.attempt().await;
            let retryable = match &outcome {
                Ok((status, _)) => *status >= 500,
                Err(_) => true,
            };
            let retry = retryable && attempt < MAX_ATTEMPTS;
            let state = match &outcome {
                Ok((status, _)) if (200..300).contains(status) => DeliveryState::Delivered,
                _ if retry => DeliveryState::Pending,
                _ => DeliveryState::Failed,
            };
            match &outcome {
                Ok((status, _)) => {
                    tracing::info!(id, attempt, status, ?state, "limit webhook answered")
                }
                Err(error) => tracing::warn!(id, attempt, error, ?state, "limit webhook failed"),
            }
            self.log.update(id, |d| {
                d.attempts = attempt;
                d.state = state;
                match outcome {
                    Ok((status, body)) => {
                        d.status = Some(status);
                        d.error = None;
                        d.response_body = Some(body);
                    }
                    Err(error) => {
                        d.status = None;
                        d.error = Some(error);
                        d.response_body = None;
                    }
                }
            });
            if !retry {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    /// One POST: the status and (truncated) body, or the transport error.
    async fn attempt(&self) -> Result<(u16, String), String> {
        let d = &self.delivery;
        let response = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("x-webhook-id", &d.id)
            .header("x-webhook-signature", &d.signature)
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| error_chain(&e))?;
        let kept = &bytes[..bytes.len().min(KEEP_RESPONSE_BYTES)];
        Ok((status, String::from_utf8_lossy(kept).into_owned()))
    }
}

/// An error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let sig = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn payload_has_the_documented_fields() {
        let org = OrgView {
            c_organization_id: "org_1".into(),
            l_team_id: "team_x".into(),
            quota_cents: 10_000,
            usage_cents: 10_250,
        };
        let v: serde_json::Value = serde_json::from_str(&payload(&org)).unwrap();
        assert_eq!(v["event_type"], "limit_exceeded");
        assert_eq!(v["team_id"], "team_x");
        assert_eq!(v["organization_id"], "org_1");
        assert_eq!(v["current_usage"], serde_json::json!(102.5));
        assert_eq!(v["current_limit"], serde_json::json!(100));
        assert_eq!(v["exceeded_by"], serde_json::json!(2.5));
        let ts = v["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z'));
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok());
    }
}
