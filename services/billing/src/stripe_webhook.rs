//! `POST /webhooks/stripe`: Stripe-signed events. A PaymentIntent event about one of our
//! recharges (`metadata.recharge_id`) wakes the reconciler, which reads the PaymentIntent
//! from Stripe itself — the event is a hint, never trusted as the charge's state.

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_db::{DbError, PgPool};
use tollgate_web::ApiError;

use crate::store::events::{self, EventSource, NewEvent};

/// Tolerance on the signature timestamp.
const TOLERANCE_SECS: i64 = 300;

/// Handles Stripe webhooks.
pub struct StripeWebhooks {
    pool: PgPool,
    secret: Option<String>,
    wake_reconciler: Arc<tokio::sync::Notify>,
}

impl StripeWebhooks {
    /// Without a secret every delivery is refused (503): unsigned events never count.
    pub fn new(
        pool: PgPool,
        secret: Option<String>,
        wake_reconciler: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            pool,
            secret,
            wake_reconciler,
        }
    }

    /// Verify, record once, and wake the reconciler for recharge PaymentIntents.
    pub async fn handle(&self, body: &[u8], signature: Option<&str>) -> Result<Value, ApiError> {
        let Some(secret) = self.secret.as_deref() else {
            return Err(ApiError::Unavailable(
                "STRIPE_WEBHOOK_SECRET is not configured".into(),
            ));
        };
        let signature =
            signature.ok_or_else(|| ApiError::Unauthorized("missing Stripe-Signature".into()))?;
        tollgate_stripe::verify_webhook_signature(
            signature,
            body,
            secret,
            chrono::Utc::now().timestamp(),
            TOLERANCE_SECS,
        )
        .map_err(|_| ApiError::Unauthorized("invalid Stripe-Signature".into()))?;
        let event: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")))?;
        let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(ApiError::bad_request(
                "invalid_body",
                "a Stripe event has id and type",
            ));
        };
        let recharge = event["data"]["object"]["metadata"]["recharge_id"]
            .as_str()
            .map(str::to_owned);
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let new = NewEvent {
            source: EventSource::Stripe,
            event_id: id.to_owned(),
            event_type: kind.to_owned(),
            team_id: None,
            organization_id: None,
            body_sha256: hex::encode(Sha256::digest(body)),
            payload: event.clone(),
        };
        let first = events::claim_new(&mut conn, &new, 0)
            .await
            .map_err(DbError::from)?;
        let response = serde_json::json!({ "success": true, "received": true, "event_id": id });
        if let Some(row) = first {
            events::answer(&mut conn, row.id, "received", 200, &response)
                .await
                .map_err(DbError::from)?;
            if kind.starts_with("payment_intent.") && recharge.is_some() {
                self.wake_reconciler.notify_one();
            }
        }
        Ok(response)
    }
}
