//! What Stripe reports about a recharge's payment after the charge call, applied once per
//! event (the Stripe webhook claims each event id): the holder completing or failing 3DS,
//! a refund made in Stripe's dashboard, a dispute; and the expiry of 3DS charges nobody
//! completed (run by reconcile).

use std::sync::Arc;

use diesel_async::AsyncConnection;
use serde_json::json;
use tollgate_db::DbError;
use tollgate_domain::money::Cents;
use tollgate_stripe::{PaymentIntentStatus, StripeError};
use uuid::Uuid;

use crate::alerts::{Alert, AlertEvent};
use crate::kms::with_retries;
use crate::recharge::{PipelineError, Recharger};
use crate::store::orgs;
use crate::store::recharges::{self, RechargeRow, RechargeStatus};

/// What applying an event did (the webhook answer's `action`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// The holder's completed payment was credited and the quota raised.
    Credited,
    /// Credited but the quota could not be delivered: refunded.
    Refunded,
    /// A failure was recorded (counted toward the switch-off).
    FailureRecorded,
    /// The credit was lowered by a refund made outside Tollgate.
    CreditLowered,
    /// Auto-recharge was paused by a dispute.
    Paused,
    /// A live pipeline or reconcile will finish the recharge.
    Reconcile,
    /// Nothing to do (already applied, not ours, or not an event billing acts on).
    Ignored,
}

impl Applied {
    /// The answer's `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Applied::Credited => "credited",
            Applied::Refunded => "refunded",
            Applied::FailureRecorded => "failure_recorded",
            Applied::CreditLowered => "credit_lowered",
            Applied::Paused => "paused",
            Applied::Reconcile => "reconcile",
            Applied::Ignored => "ignored",
        }
    }
}

/// Applies payment events.
pub struct PaymentEvents {
    recharger: Arc<Recharger>,
}

impl PaymentEvents {
    /// Over the shared pipeline.
    pub fn new(recharger: Arc<Recharger>) -> Self {
        Self { recharger }
    }

    /// The recharge `id` (from the PaymentIntent's metadata), else the one charged through
    /// `intent`.
    pub async fn find(
        &self,
        id: Option<Uuid>,
        intent: Option<&str>,
    ) -> Result<Option<RechargeRow>, DbError> {
        let mut conn = self.recharger.pool().get().await?;
        if let Some(id) = id {
            if let Some(record) = recharges::find(&mut conn, id).await? {
                return Ok(Some(record));
            }
        }
        match intent {
            Some(intent) => Ok(recharges::find_by_intent(&mut conn, intent).await?),
            None => Ok(None),
        }
    }

    /// `payment_intent.succeeded`: money was taken for `record` through `intent`.
    pub async fn intent_succeeded(
        &self,
        record: RechargeRow,
        intent: &str,
    ) -> Result<Applied, PipelineError> {
        match record.status() {
            // The pipeline that charged it, or reconcile, delivers it.
            RechargeStatus::Pending | RechargeStatus::Charged => Ok(Applied::Reconcile),
            RechargeStatus::RequiresAction
            | RechargeStatus::PaymentFailed
            | RechargeStatus::Canceled => {
                let finished = self.recharger.complete_action(record.id, intent).await?;
                Ok(match finished.record.status() {
                    RechargeStatus::Succeeded => Applied::Credited,
                    RechargeStatus::Refunded => Applied::Refunded,
                    // Charged but not delivered yet (the refund failed): reconcile's.
                    RechargeStatus::Pending
                    | RechargeStatus::Charged
                    | RechargeStatus::PaymentFailed
                    | RechargeStatus::RequiresAction
                    | RechargeStatus::Canceled => Applied::Reconcile,
                })
            }
            RechargeStatus::Succeeded | RechargeStatus::Refunded => Ok(Applied::Ignored),
        }
    }

    /// `payment_intent.payment_failed` / `payment_intent.canceled` for `record`.
    pub async fn intent_ended(
        &self,
        record: RechargeRow,
        canceled: bool,
        code: &str,
        message: &str,
    ) -> Result<Applied, PipelineError> {
        match record.status() {
            RechargeStatus::RequiresAction => {
                let status = if canceled {
                    RechargeStatus::Canceled
                } else {
                    RechargeStatus::PaymentFailed
                };
                self.recharger
                    .end_action(record.id, status, code, message)
                    .await?;
                Ok(Applied::FailureRecorded)
            }
            RechargeStatus::Pending => Ok(Applied::Reconcile),
            RechargeStatus::Charged
            | RechargeStatus::Succeeded
            | RechargeStatus::PaymentFailed
            | RechargeStatus::Refunded
            | RechargeStatus::Canceled => Ok(Applied::Ignored),
        }
    }

    /// `charge.refunded` made outside Tollgate: `refunded` (cumulative cents of the total
    /// charge) is recorded, the credit lowered by `min(refunded, amount)` in all, and the
    /// quota set to the new credited total (a backend that does not take it is alerted; the
    /// ledger keeps the truth and the next sync or recharge sets it).
    pub async fn charge_refunded(
        &self,
        record: RechargeRow,
        refunded: i64,
    ) -> Result<Applied, PipelineError> {
        if record.status() != RechargeStatus::Succeeded {
            // Never credited (or refunded by billing itself): nothing to take back.
            return Ok(Applied::Ignored);
        }
        let kms = Arc::clone(self.recharger.kms());
        let policy = self.recharger.kms_retry();
        let alerts = Arc::clone(self.recharger.alerts());
        let id = record.id;
        let mut conn = self.recharger.pool().get().await?;
        let lowered = conn
            .transaction(async move |conn| {
                let org = orgs::lock_id(conn, record.organization_id).await?;
                let Some(record) = recharges::find(conn, id).await? else {
                    return Ok(Cents(0));
                };
                let lowered = recharges::record_outside_refund(conn, &record, refunded).await?;
                if lowered.0 == 0 {
                    return Ok(lowered);
                }
                let total = recharges::credited_total(conn, org.id).await?;
                let holder = kms
                    .holder(&org.c_organization_id, org.litellm_team_id.as_deref())
                    .to_owned();
                let (result, attempts) = with_retries(policy, || {
                    let (kms, holder) = (kms.clone(), holder.clone());
                    async move { kms.set_quota(&holder, total).await }
                })
                .await;
                let c_org = org.c_organization_id.clone();
                match result {
                    Ok(confirmed) => {
                        orgs::set_kms_state(conn, org.id, &confirmed.l_team_id, confirmed.quota.0)
                            .await?;
                    }
                    Err(e) => {
                        tracing::error!(recharge = %id, error = %e, "quota not lowered after a refund");
                        alerts
                            .raise(
                                conn,
                                &Alert {
                                    event: AlertEvent::QuotaBackendUnreachable,
                                    key: format!("{id}:refund:{refunded}"),
                                    organization: org.id,
                                    c_organization_id: c_org.clone(),
                                    text: format!(
                                        "The quota backend did not take {c_org}'s lowered quota of ${total} after {attempts} attempts ({e})"
                                    ),
                                    figures: json!({ "recharge_id": id, "credited_total": total }),
                                },
                            )
                            .await?;
                    }
                }
                alerts
                    .raise(
                        conn,
                        &Alert {
                            event: AlertEvent::Refund,
                            key: format!("{id}:{refunded}"),
                            organization: org.id,
                            c_organization_id: c_org.clone(),
                            text: format!(
                                "A refund made in Stripe lowered {c_org}'s credit by ${lowered} (credited total now ${total})"
                            ),
                            figures: json!({
                                "recharge_id": id,
                                "refunded": Cents(refunded),
                                "credit_lowered": lowered,
                                "credited_total": total,
                            }),
                        },
                    )
                    .await?;
                Ok::<_, diesel::result::Error>(lowered)
            })
            .await?;
        Ok(if lowered.0 > 0 {
            Applied::CreditLowered
        } else {
            Applied::Ignored
        })
    }

    /// `charge.dispute.created`: automatic recharges of the organisation pause (until an
    /// admin switches auto-recharge on again), and an alert is raised.
    pub async fn dispute_created(
        &self,
        record: RechargeRow,
        dispute: &str,
        reason: &str,
        amount: i64,
    ) -> Result<Applied, PipelineError> {
        let alerts = Arc::clone(self.recharger.alerts());
        let pause = format!(
            "charge disputed ({reason}): dispute {dispute} on recharge {}",
            record.id
        );
        let alert = Alert {
            event: AlertEvent::Dispute,
            key: dispute.to_owned(),
            organization: record.organization_id,
            c_organization_id: record.c_organization_id.clone(),
            text: format!(
                "{} disputed a charge of ${} ({reason}); automatic recharges are paused",
                record.c_organization_id,
                Cents(amount)
            ),
            figures: json!({
                "recharge_id": record.id,
                "dispute_id": dispute,
                "reason": reason,
                "amount": Cents(amount),
            }),
        };
        let mut conn = self.recharger.pool().get().await?;
        conn.transaction(async move |conn| {
            orgs::pause(conn, record.organization_id, &pause).await?;
            recharges::mark_disputed(conn, record.id).await?;
            alerts.raise(conn, &alert).await
        })
        .await?;
        Ok(Applied::Paused)
    }

    /// Cancel `requires_action` recharges whose time ran out: the PaymentIntent is canceled
    /// at Stripe first, so a holder can no longer complete it; one that was completed after
    /// all is credited instead. Returns how many reached a final state.
    pub async fn expire_actions(&self) -> Result<usize, DbError> {
        let expired = {
            let mut conn = self.recharger.pool().get().await?;
            recharges::expired_actions(&mut conn, 100).await?
        };
        let mut done = 0;
        for record in expired {
            match self.expire(&record).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(recharge = %record.id, error = %e, "expiry not applied yet")
                }
            }
        }
        Ok(done)
    }

    async fn expire(&self, record: &RechargeRow) -> Result<bool, PipelineError> {
        let stripe = self.recharger.stripe();
        let state = match record.payment_intent_id.as_deref() {
            None => None,
            Some(pi) => match stripe.cancel_payment_intent(pi).await {
                Ok(intent) => Some(intent),
                // Not cancelable: it finished meanwhile; look at how.
                Err(StripeError::Rejected { .. }) => Some(
                    stripe
                        .retrieve_payment_intent(pi)
                        .await
                        .map_err(|e| PipelineError::PaymentUnknown(e.to_string()))?,
                ),
                Err(e) => return Err(PipelineError::PaymentUnknown(e.to_string())),
            },
        };
        match state {
            Some(intent) if intent.status == PaymentIntentStatus::Succeeded => {
                self.recharger
                    .complete_action(record.id, &intent.id)
                    .await?;
            }
            _ => {
                self.recharger
                    .end_action(
                        record.id,
                        RechargeStatus::Canceled,
                        "action_expired",
                        "the card holder did not authenticate the payment in time; it was canceled",
                    )
                    .await?;
            }
        }
        Ok(true)
    }
}
