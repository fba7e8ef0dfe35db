//! `POST /webhooks/stripe`: Stripe-signed events (300 s tolerance, any `v1` that matches;
//! a bad or missing signature is 400 and changes nothing),
//! each event id applied once: claimed in `webhook_events`, applied by [`PaymentEvents`],
//! answered, and the answer replayed to redeliveries. A correctly signed event is trusted as
//! sent. An event that could not be applied (database or Stripe down) is released and
//! answered 503, so Stripe delivers it again.
//!
//! - `payment_intent.succeeded` of a recharge waiting for 3DS (or ended without money) →
//!   credited and the quota raised, once;
//! - `payment_intent.payment_failed` / `.canceled` of a recharge waiting for 3DS → a failure,
//!   counted toward the switch-off;
//! - `charge.refunded` (made in Stripe's dashboard) → the credit lowered, the quota set;
//! - `charge.dispute.created` → auto-recharge paused, an alert;
//! - PaymentIntent events of a recharge still `pending` wake the reconciler; anything else
//!   is recorded and ignored.

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_db::PgPool;
use tollgate_web::ApiError;
use uuid::Uuid;

use crate::payment_events::{Applied, PaymentEvents};
use crate::recharge::PipelineError;
use crate::store::events::{self, EventSource, EventStatus, NewEvent};
use crate::views::StripeAnswer;

/// Tolerance on the signature timestamp.
const TOLERANCE_SECS: i64 = 300;
/// How long a claimant holds an event.
const LEASE_SECS: i32 = 60;

/// The event envelope.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// Handles Stripe webhooks.
pub struct StripeWebhooks {
    pool: PgPool,
    payments: PaymentEvents,
    secret: Option<SecretString>,
    wake_reconciler: Arc<tokio::sync::Notify>,
}

impl StripeWebhooks {
    /// Without a secret every delivery is refused (503): unsigned events never count.
    pub fn new(
        pool: PgPool,
        payments: PaymentEvents,
        secret: Option<SecretString>,
        wake_reconciler: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            pool,
            payments,
            secret,
            wake_reconciler,
        }
    }

    /// Verify, claim once, apply, answer.
    pub async fn handle(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<StripeAnswer, ApiError> {
        let Some(secret) = self.secret.as_ref().map(|s| s.expose_secret()) else {
            return Err(ApiError::Unavailable(
                "STRIPE_WEBHOOK_SECRET is not configured".into(),
            ));
        };
        // 400 for a bad signature, as Stripe's own handlers answer.
        let signature = signature.ok_or_else(|| {
            ApiError::bad_request("invalid_signature", "missing Stripe-Signature")
        })?;
        tollgate_stripe::verify_webhook_signature(
            signature,
            body,
            secret,
            chrono::Utc::now().timestamp(),
            TOLERANCE_SECS,
        )
        .map_err(|_| ApiError::bad_request("invalid_signature", "invalid Stripe-Signature"))?;
        let event: Event = serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                ApiError::bad_request(
                    "invalid_body",
                    "a Stripe event has id, type and data.object",
                )
            } else {
                ApiError::bad_request("invalid_json", format!("malformed JSON: {e}"))
            }
        })?;
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let new = NewEvent {
            source: EventSource::Stripe,
            event_id: event.id.clone(),
            event_type: event.kind.clone(),
            team_id: None,
            organization_id: None,
            body_sha256: hex::encode(Sha256::digest(body)),
            payload,
        };
        let mut conn = self.pool.get().await?;
        let row = match events::claim_new(&mut conn, &new, LEASE_SECS).await? {
            Some(row) => row,
            None => {
                let existing = events::find(&mut conn, EventSource::Stripe, &event.id)
                    .await?
                    .ok_or_else(|| ApiError::Unavailable("webhook event vanished".into()))?;
                if existing.status == EventStatus::Answered {
                    // A stored answer is one this code wrote: read as the type it was.
                    return Ok(existing
                        .response
                        .and_then(|r| serde_json::from_value(r).ok())
                        .unwrap_or_else(|| received(&event.id, None)));
                }
                let expired = existing.claimed_until < chrono::Utc::now();
                if !(expired && events::take_over(&mut conn, existing.id, LEASE_SECS).await?) {
                    // Another delivery is applying it; Stripe retries a 503.
                    return Err(ApiError::Unavailable(format!(
                        "event {} is being applied",
                        event.id
                    )));
                }
                existing
            }
        };
        drop(conn);
        let applied = self.apply(&event).await;
        let mut conn = self.pool.get().await?;
        match applied {
            Ok((applied, org)) => {
                if let Some(org) = org {
                    events::set_organization(&mut conn, row.id, org).await?;
                }
                let answer = received(&event.id, Some(applied));
                events::answer(&mut conn, row.id, applied.as_str(), 200, &answer).await?;
                Ok(answer)
            }
            Err(e) => {
                let _ = events::release(&mut conn, row.id).await;
                tracing::warn!(event = %event.id, kind = %event.kind, error = %e, "stripe event not applied yet");
                Err(ApiError::Unavailable(format!("event not applied yet: {e}")))
            }
        }
    }

    /// Apply the event; with the internal id of the organisation it concerns, if any.
    async fn apply(&self, event: &Event) -> Result<(Applied, Option<i64>), PipelineError> {
        let object = &event.data.object;
        let mut org = None;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let applied = match event.kind.as_str() {
            "payment_intent.succeeded"
            | "payment_intent.payment_failed"
            | "payment_intent.canceled" => {
                let intent = text(&object["id"]).unwrap_or_default();
                let recharge = object["metadata"]["recharge_id"]
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok());
                let Some(record) = self.payments.find(recharge, Some(&intent)).await? else {
                    return Ok((Applied::Ignored, None));
                };
                org = Some(record.organization_id);
                match event.kind.as_str() {
                    "payment_intent.succeeded" => {
                        self.payments.intent_succeeded(record, &intent).await?
                    }
                    kind => {
                        let canceled = kind == "payment_intent.canceled";
                        let error = &object["last_payment_error"];
                        let code = text(&error["code"]).unwrap_or_else(|| {
                            if canceled {
                                "canceled"
                            } else {
                                "authentication_failed"
                            }
                            .into()
                        });
                        let message = text(&error["message"]).unwrap_or_else(|| {
                            format!("Stripe reported {kind} for payment {intent}")
                        });
                        self.payments
                            .intent_ended(record, canceled, &code, &message)
                            .await?
                    }
                }
            }
            "charge.refunded" => {
                let Some(intent) = text(&object["payment_intent"]) else {
                    return Ok((Applied::Ignored, None));
                };
                let refunded = object["amount_refunded"].as_i64().unwrap_or(0);
                let Some(record) = self.payments.find(None, Some(&intent)).await? else {
                    return Ok((Applied::Ignored, None));
                };
                org = Some(record.organization_id);
                self.payments.charge_refunded(record, refunded).await?
            }
            "charge.dispute.created" => {
                let Some(intent) = text(&object["payment_intent"]) else {
                    return Ok((Applied::Ignored, None));
                };
                let Some(record) = self.payments.find(None, Some(&intent)).await? else {
                    return Ok((Applied::Ignored, None));
                };
                org = Some(record.organization_id);
                let dispute = text(&object["id"]).unwrap_or_else(|| event.id.clone());
                let reason = text(&object["reason"]).unwrap_or_else(|| "unknown".into());
                let amount = object["amount"]
                    .as_i64()
                    .unwrap_or(record.total_charge_cents);
                self.payments
                    .dispute_created(record, &dispute, &reason, amount)
                    .await?
            }
            _ => Applied::Ignored,
        };
        if applied == Applied::Reconcile {
            self.wake_reconciler.notify_one();
        }
        Ok((applied, org))
    }
}

/// The answer: `{"success", "received", "event_id", "action"}`.
fn received(event_id: &str, applied: Option<Applied>) -> StripeAnswer {
    StripeAnswer {
        success: true,
        received: true,
        event_id: event_id.to_owned(),
        action: applied,
    }
}
