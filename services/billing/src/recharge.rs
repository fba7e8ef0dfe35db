//! The recharge pipeline, shared by limit webhooks, manual recharges and reconcile:
//!
//! 1. **record** (in the caller's transaction, under the organisation's row lock): a
//!    `pending` record exists before any charge;
//! 2. **charge** off-session with `Idempotency-Key = recharge:<id>` and
//!    `metadata.recharge_id`: declined or 3DS → a final status and no quota change;
//!    unknown outcome (5xx, timeout) → stays `pending` for reconcile;
//! 3. **deliver**: under the row lock, add the ledger credit and set the KMS quota to the
//!    credited total, with retries; only a confirmed quota commits the credit. Past the
//!    retry budget the charge is refunded and recorded `refunded`.

use std::sync::Arc;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use tollgate_db::{DbError, PgPool};
use tollgate_domain::money::Cents;
use tollgate_domain::recharge::{FeeSchedule, MAX_CONSECUTIVE_PAYMENT_FAILURES};
use tollgate_stripe::{ChargeOutcome, ChargeRequest, PaymentGateway, StripeError};
use uuid::Uuid;

use crate::alerts::{Alert, AlertEvent, Alerts};
use crate::kms::{with_retries, Kms, KmsError, KmsOrg, RetryPolicy};
use crate::metrics::Metrics;
use crate::store::orgs::{self, OrgRow};
use crate::store::recharges::{self, NewRecharge, RechargeRow, RechargeStatus, TriggeredBy};

/// What started a recharge.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A signed limit webhook event.
    Webhook {
        /// Its event id.
        event_id: String,
    },
    /// A LiteLLM budget alert.
    LitellmAlert {
        /// The id billing gave it (LiteLLM's alerts carry none).
        event_id: String,
    },
    /// The safety-net poller.
    Poller,
    /// `POST /api/organizations/{id}/recharge`, with the caller's `Idempotency-Key`.
    Manual {
        /// The caller's key, if sent.
        request_key: Option<String>,
    },
}

impl Trigger {
    /// The stored `triggered_by`, the event id and the caller's key.
    fn columns(&self) -> (TriggeredBy, Option<String>, Option<String>) {
        match self {
            Trigger::Webhook { event_id } => (TriggeredBy::Webhook, Some(event_id.clone()), None),
            Trigger::LitellmAlert { event_id } => {
                (TriggeredBy::LitellmAlert, Some(event_id.clone()), None)
            }
            Trigger::Poller => (TriggeredBy::Poller, None, None),
            Trigger::Manual { request_key } => (TriggeredBy::Manual, None, request_key.clone()),
        }
    }
}

/// Where a pipeline run ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The record as it now stands.
    pub record: RechargeRow,
    /// The KMS quota set, when delivered.
    pub quota: Option<Cents>,
}

/// A failure that leaves the record for reconcile (it is never lost: it is in the database).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Tollgate's database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Stripe could not say whether the charge happened; reconcile will find out.
    #[error("payment provider unavailable: {0}")]
    PaymentUnknown(String),
}

tollgate_db::from_db_errors!(PipelineError);

/// Runs recharges.
pub struct Recharger {
    pool: PgPool,
    kms: Arc<dyn Kms>,
    stripe: Arc<dyn PaymentGateway>,
    fees: FeeSchedule,
    currency: String,
    kms_retry: RetryPolicy,
    metrics: Metrics,
    alerts: Arc<Alerts>,
    action_expiry: std::time::Duration,
}

/// The recharge pipeline's collaborators and settings.
pub struct RechargerParts {
    /// Billing's database.
    pub pool: PgPool,
    /// The quota backend.
    pub kms: Arc<dyn Kms>,
    /// Stripe.
    pub stripe: Arc<dyn PaymentGateway>,
    /// The fee added to each charge.
    pub fees: FeeSchedule,
    /// ISO currency of charges.
    pub currency: String,
    /// Quota delivery retries.
    pub kms_retry: RetryPolicy,
    /// Counters.
    pub metrics: Metrics,
    /// Operator alerts.
    pub alerts: Arc<Alerts>,
    /// How long a charge waits for the holder's authentication before it is canceled.
    pub action_expiry: std::time::Duration,
}

enum DeliverError {
    Db(diesel::result::Error),
    Kms(KmsError, u32),
    /// An earlier delivery gave up on this record: it is refunded, never delivered.
    RefundDecided,
}

impl From<diesel::result::Error> for DeliverError {
    fn from(e: diesel::result::Error) -> Self {
        DeliverError::Db(e)
    }
}

impl Recharger {
    /// Wire the pipeline.
    pub fn new(parts: RechargerParts) -> Self {
        Self {
            pool: parts.pool,
            kms: parts.kms,
            stripe: parts.stripe,
            fees: parts.fees,
            currency: parts.currency,
            kms_retry: parts.kms_retry,
            metrics: parts.metrics,
            alerts: parts.alerts,
            action_expiry: parts.action_expiry,
        }
    }

    /// Operator alerts.
    pub fn alerts(&self) -> &Arc<Alerts> {
        &self.alerts
    }

    /// The fee schedule.
    pub fn fees(&self) -> &FeeSchedule {
        &self.fees
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The KMS client.
    pub fn kms(&self) -> &Arc<dyn Kms> {
        &self.kms
    }

    /// The payment gateway.
    pub fn stripe(&self) -> &Arc<dyn PaymentGateway> {
        &self.stripe
    }

    /// The KMS retry schedule.
    pub fn kms_retry(&self) -> RetryPolicy {
        self.kms_retry
    }

    /// Step 1: the `pending` record for `amount`, inserted on `conn` (inside the caller's
    /// transaction, which holds the organisation's lock).
    pub async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        org: &OrgRow,
        amount: Cents,
        trigger: &Trigger,
    ) -> diesel::QueryResult<RechargeRow> {
        let quote = self.fees.quote(amount);
        let id = Uuid::new_v4();
        let (triggered_by, webhook_event_id, request_key) = trigger.columns();
        recharges::insert(
            conn,
            &NewRecharge {
                id,
                organization_id: org.id,
                c_organization_id: org.c_organization_id.clone(),
                amount_cents: quote.amount.0,
                fee_cents: quote.fee.0,
                total_charge_cents: quote.total_charge.0,
                currency: self.currency.clone(),
                triggered_by,
                triggered_by_webhook: webhook_event_id.is_some(),
                webhook_event_id,
                request_key,
                idempotency_key: format!("recharge:{id}"),
                payment_method_id: org.default_payment_method_id.clone(),
            },
        )
        .await
    }

    /// Steps 2 and 3 for a `pending` record of `org`.
    pub async fn charge_and_deliver(
        &self,
        record: RechargeRow,
        org: &OrgRow,
    ) -> Result<Finished, PipelineError> {
        let (Some(customer), Some(pm)) = (
            org.stripe_customer_id.as_deref(),
            record
                .payment_method_id
                .as_deref()
                .or(org.default_payment_method_id.as_deref()),
        ) else {
            let mut conn = self.pool.get().await?;
            recharges::mark_unpaid(
                &mut conn,
                record.id,
                RechargeStatus::PaymentFailed,
                None,
                "no_payment_method",
                "no payment method saved",
            )
            .await?;
            return self.finished(record.id, None).await;
        };
        let id = record.id.to_string();
        let metadata = [
            ("recharge_id", id.as_str()),
            ("c_organization_id", org.c_organization_id.as_str()),
            ("triggered_by", record.triggered_by.as_str()),
        ];
        let request = ChargeRequest {
            customer,
            payment_method: pm,
            amount_cents: record.total_charge_cents,
            currency: &record.currency,
            idempotency_key: &record.idempotency_key,
            metadata: &metadata,
        };
        let started = std::time::Instant::now();
        let outcome = self.stripe.charge(&request).await;
        self.metrics
            .charge_seconds
            .observe(started.elapsed().as_secs_f64());
        self.apply_charge_outcome(record, outcome).await
    }

    /// Record what Stripe answered to the charge of a `pending` record, then deliver if
    /// money was taken. Reconcile calls this too, with what it found.
    pub async fn apply_charge_outcome(
        &self,
        record: RechargeRow,
        outcome: Result<ChargeOutcome, StripeError>,
    ) -> Result<Finished, PipelineError> {
        let mut conn = self.pool.get().await?;
        match outcome {
            Ok(ChargeOutcome::Succeeded(intent)) => {
                recharges::mark_charged(&mut conn, record.id, &intent.id).await?;
                orgs::reset_payment_failures(&mut conn, record.organization_id).await?;
                drop(conn);
                self.deliver(record.id).await
            }
            Ok(ChargeOutcome::RequiresAction {
                payment_intent_id,
                message,
                next_action,
            }) => {
                drop(conn);
                self.await_action(&record, payment_intent_id, &message, next_action)
                    .await?;
                self.finished(record.id, None).await
            }
            Ok(ChargeOutcome::Declined {
                code,
                decline_code,
                message,
                payment_intent_id,
            }) => {
                let code = decline_code.unwrap_or(code);
                self.payment_failed(
                    &mut conn,
                    &record,
                    RechargeStatus::PaymentFailed,
                    payment_intent_id.as_deref(),
                    &code,
                    &message,
                )
                .await?;
                self.finished(record.id, None).await
            }
            Ok(ChargeOutcome::Pending(intent)) => {
                recharges::set_intent(&mut conn, record.id, &intent.id).await?;
                Err(PipelineError::PaymentUnknown(format!(
                    "payment {} is {}",
                    intent.id,
                    intent.status.as_str()
                )))
            }
            Err(StripeError::Card { code, message }) => {
                self.payment_failed(
                    &mut conn,
                    &record,
                    RechargeStatus::PaymentFailed,
                    None,
                    &code,
                    &message,
                )
                .await?;
                self.finished(record.id, None).await
            }
            Err(StripeError::Rejected {
                status,
                code,
                message,
            }) => {
                let code = code.unwrap_or_else(|| format!("stripe_{status}"));
                self.payment_failed(
                    &mut conn,
                    &record,
                    RechargeStatus::PaymentFailed,
                    None,
                    &code,
                    &message,
                )
                .await?;
                self.finished(record.id, None).await
            }
            Err(StripeError::Unavailable(why)) => {
                self.metrics
                    .recharges
                    .with_label_values(&["payment_unknown"])
                    .inc();
                tracing::warn!(recharge = %record.id, error = %why, "charge outcome unknown; reconcile will resolve it");
                Err(PipelineError::PaymentUnknown(why))
            }
        }
    }

    async fn payment_failed(
        &self,
        conn: &mut AsyncPgConnection,
        record: &RechargeRow,
        status: RechargeStatus,
        intent: Option<&str>,
        code: &str,
        message: &str,
    ) -> Result<(), PipelineError> {
        let org = record.organization_id;
        let id = record.id;
        let (code, message, intent) = (
            code.to_owned(),
            message.to_owned(),
            intent.map(str::to_owned),
        );
        let alerts = Arc::clone(&self.alerts);
        let c_org = record.c_organization_id.clone();
        let switched_off = conn
            .transaction(async move |conn| {
                if !recharges::mark_unpaid(conn, id, status, intent.as_deref(), &code, &message)
                    .await?
                {
                    return Ok::<_, diesel::result::Error>(false);
                }
                count_failure(conn, &alerts, org, &c_org, id, &code).await
            })
            .await?;
        if switched_off {
            tracing::warn!(recharge = %id, "auto-recharge switched off after repeated payment failures");
        }
        Ok(())
    }

    /// A `pending` record whose charge needs the holder: `requires_action` until
    /// `action_expiry`, with what the holder must do, and an alert. Not a failure (yet).
    async fn await_action(
        &self,
        record: &RechargeRow,
        intent: Option<String>,
        message: &str,
        next_action: Option<serde_json::Value>,
    ) -> Result<(), PipelineError> {
        let expires_at =
            chrono::Utc::now() + chrono::Duration::from_std(self.action_expiry).unwrap_or_default();
        let next = serde_json::json!({
            "type": "authenticate",
            "payment_intent_id": intent,
            "message": "the card holder must authenticate this payment (3-D Secure) in Stripe; it is canceled if not completed by expires_at",
            "expires_at": expires_at,
            "stripe_next_action": next_action,
        });
        let alert = Alert {
            event: AlertEvent::PaymentActionRequired,
            key: record.id.to_string(),
            organization: record.organization_id,
            c_organization_id: record.c_organization_id.clone(),
            text: format!(
                "Recharge of ${} for {} needs the card holder's authentication (3-D Secure) before {}",
                Cents(record.total_charge_cents),
                record.c_organization_id,
                expires_at.format("%Y-%m-%d %H:%M UTC"),
            ),
            figures: serde_json::json!({
                "recharge_id": record.id,
                "amount": Cents(record.amount_cents),
                "total_charge": Cents(record.total_charge_cents),
                "payment_intent_id": intent,
                "expires_at": expires_at,
            }),
        };
        let (id, alerts, message) = (record.id, Arc::clone(&self.alerts), message.to_owned());
        let mut conn = self.pool.get().await?;
        conn.transaction(async move |conn| {
            if recharges::mark_requires_action(
                conn,
                id,
                intent.as_deref(),
                &message,
                &next,
                expires_at,
            )
            .await?
            {
                alerts.raise(conn, &alert).await?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await?;
        Ok(())
    }

    /// The holder completed a charge that needed them (or Stripe reports money taken for a
    /// record that ended without it): `charged`, then delivered like any charge.
    pub async fn complete_action(&self, id: Uuid, intent: &str) -> Result<Finished, PipelineError> {
        let mut conn = self.pool.get().await?;
        let Some(record) = recharges::find(&mut conn, id).await? else {
            return Err(diesel::result::Error::NotFound.into());
        };
        if recharges::mark_charged(&mut conn, id, intent).await? {
            orgs::reset_payment_failures(&mut conn, record.organization_id).await?;
        }
        drop(conn);
        self.deliver(id).await
    }

    /// A charge waiting for the holder ended without money (`payment_failed` when the
    /// holder failed, `canceled` when Stripe canceled it or it expired): counted as a payment
    /// failure. Returns the record.
    pub async fn end_action(
        &self,
        id: Uuid,
        status: RechargeStatus,
        code: &str,
        message: &str,
    ) -> Result<Finished, PipelineError> {
        let alerts = Arc::clone(&self.alerts);
        let (code, message) = (code.to_owned(), message.to_owned());
        let mut conn = self.pool.get().await?;
        conn.transaction(async move |conn| {
            let Some(record) = recharges::find(conn, id).await? else {
                return Ok(());
            };
            if recharges::end_action(conn, id, status, &code, &message).await? {
                count_failure(
                    conn,
                    &alerts,
                    record.organization_id,
                    &record.c_organization_id,
                    id,
                    &code,
                )
                .await?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await?;
        drop(conn);
        self.finished(id, None).await
    }

    /// Step 3 for a `charged` record: credit and set the quota, or refund past the budget.
    pub async fn deliver(&self, id: Uuid) -> Result<Finished, PipelineError> {
        let mut conn = self.pool.get().await?;
        let kms = self.kms.clone();
        let policy = self.kms_retry;
        let result = conn
            .transaction(async move |conn| {
                let Some(record) = recharges::find(conn, id).await? else {
                    return Err(DeliverError::Db(diesel::result::Error::NotFound));
                };
                let org = orgs::lock_id(conn, record.organization_id).await?;
                // Read again under the lock: another delivery may have finished meanwhile.
                let Some(record) = recharges::find(conn, id).await? else {
                    return Err(DeliverError::Db(diesel::result::Error::NotFound));
                };
                if record.status != RechargeStatus::Charged {
                    return Ok((None, 0));
                }
                if record.refund_decided() {
                    return Err(DeliverError::RefundDecided);
                }
                recharges::add_credit(conn, &record).await?;
                let total = recharges::credited_total(conn, org.id).await?;
                let (result, attempts) = set_total(&kms, policy, &org, total).await;
                let confirmed = result.map_err(|e| DeliverError::Kms(e, attempts))?;
                let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
                recharges::mark_succeeded(conn, record.id, attempts).await?;
                orgs::set_kms_state(conn, org.id, &confirmed.l_team_id, confirmed.quota.0).await?;
                Ok((Some(confirmed.quota), attempts))
            })
            .await;
        drop(conn);
        match result {
            Ok((quota, _)) => {
                if quota.is_some() {
                    self.metrics
                        .recharges
                        .with_label_values(&["succeeded"])
                        .inc();
                }
                self.finished(id, quota).await
            }
            Err(DeliverError::Db(e)) => Err(e.into()),
            Err(DeliverError::RefundDecided) => self.refund_undelivered(id).await,
            Err(DeliverError::Kms(e, attempts)) => {
                if self.decide_refund(id, attempts, &e.to_string()).await? {
                    tracing::error!(recharge = %id, attempts, error = %e, "quota not delivered; refunding");
                    self.refund_undelivered(id).await
                } else {
                    // Another delivery finished it meanwhile (reconcile, a Stripe event).
                    self.finished(id, None).await
                }
            }
        }
    }

    /// Record, under the organisation's lock, that `id` is to be refunded rather than
    /// delivered; false when it is no longer `charged` (another delivery finished it while
    /// this one waited on the quota backend). From then on no delivery touches the quota for
    /// it (`RechargeRow::refund_decided`): without this, a delivery queued behind the failing
    /// one on the lock could deliver the quota while this one refunded the money.
    async fn decide_refund(
        &self,
        id: Uuid,
        attempts: u32,
        why: &str,
    ) -> Result<bool, PipelineError> {
        let mut conn = self.pool.get().await?;
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        let message =
            format!("quota not delivered after {attempts} KMS attempts ({why}); charge refunded");
        let decided = conn
            .transaction(async move |conn| {
                let Some(record) = recharges::find(conn, id).await? else {
                    return Err(diesel::result::Error::NotFound);
                };
                orgs::lock_id(conn, record.organization_id).await?;
                recharges::note_delivery_failure(conn, id, attempts, &message).await
            })
            .await?;
        Ok(decided)
    }

    /// Set organisation `org`'s quota to its credited total again, if still asked for
    /// (`orgs::mark_reassert`). True when done (or nothing was left to do); false when the
    /// backend failed again, and the request stays for the next pass.
    pub async fn reassert_quota(&self, org: i64) -> Result<bool, PipelineError> {
        let mut conn = self.pool.get().await?;
        let kms = self.kms.clone();
        let policy = self.kms_retry;
        let done = conn
            .transaction(async move |conn| {
                let org = orgs::lock_id(conn, org).await?;
                if !orgs::reassert_pending(conn, org.id).await? {
                    return Ok::<_, diesel::result::Error>(true);
                }
                let total = recharges::credited_total(conn, org.id).await?;
                let (result, attempts) = set_total(&kms, policy, &org, total).await;
                match result {
                    Ok(confirmed) => {
                        orgs::set_kms_state(conn, org.id, &confirmed.l_team_id, confirmed.quota.0)
                            .await?;
                        orgs::clear_reassert(conn, org.id).await?;
                        tracing::info!(org = %org.c_organization_id, quota = %confirmed.quota, "quota set again to the credited total");
                        Ok(true)
                    }
                    Err(e) => {
                        tracing::warn!(org = %org.c_organization_id, attempts, error = %e, "quota not set again; next pass retries");
                        Ok(false)
                    }
                }
            })
            .await?;
        Ok(done)
    }

    /// Refund a `charged` record whose delivery was given up (`decide_refund`). The
    /// record's row is locked from the check to the recorded refund, so two deliveries
    /// giving up at once (the pipeline and reconcile) refund once: the second finds it
    /// refunded. (Stripe would also answer both from the one `Idempotency-Key`; the fake
    /// does not.)
    async fn refund_undelivered(&self, id: Uuid) -> Result<Finished, PipelineError> {
        let mut conn = self.pool.get().await?;
        let stripe = Arc::clone(&self.stripe);
        let alerts = Arc::clone(&self.alerts);
        conn.transaction(async move |conn| {
            let Some(record) = recharges::lock(conn, id).await? else {
                return Err(PipelineError::Db(DbError::Query(
                    diesel::result::Error::NotFound,
                )));
            };
            if record.status != RechargeStatus::Charged {
                return Ok(());
            }
            let attempts = record.kms_attempts;
            let message = record.failure_message.clone().unwrap_or_default();
            let Some(intent) = record.payment_intent_id.as_deref() else {
                return Err(PipelineError::PaymentUnknown(
                    "charged record without a payment intent".into(),
                ));
            };
            let rid = id.to_string();
            let refund = stripe
                .refund(
                    intent,
                    &format!("refund:{id}"),
                    &[
                        ("recharge_id", rid.as_str()),
                        ("reason", "quota_not_delivered"),
                    ],
                )
                .await
                .map_err(|e| {
                    // Stays `charged`, its refund decided: reconcile tries the refund again.
                    tracing::error!(recharge = %id, error = %e, "refund failed; reconcile will retry");
                    PipelineError::PaymentUnknown(format!("refund failed: {e}"))
                })?;
            if recharges::mark_refunded(conn, id, &refund.id, &message).await? {
                for alert in undelivered_alerts(&record, attempts, &message) {
                    alerts.raise(conn, &alert).await?;
                }
                // A timed-out quota write may still land: set the quota back to what was
                // paid for once it has had the time to.
                orgs::mark_reassert(conn, record.organization_id).await?;
            }
            Ok(())
        })
        .await?;
        drop(conn);
        self.finished(id, None).await
    }

    async fn finished(&self, id: Uuid, quota: Option<Cents>) -> Result<Finished, PipelineError> {
        let mut conn = self.pool.get().await?;
        let record = recharges::find(&mut conn, id)
            .await?
            .ok_or(diesel::result::Error::NotFound)?;
        if record.is_final() && record.status != RechargeStatus::Succeeded {
            self.metrics
                .recharges
                .with_label_values(&[record.status.as_str()])
                .inc();
        }
        Ok(Finished { record, quota })
    }
}

/// Count a payment failure of organisation `org` (in the caller's transaction); at
/// [`MAX_CONSECUTIVE_PAYMENT_FAILURES`] in a row auto-recharge is switched off and an alert
/// raised. Returns whether this call switched it off.
async fn count_failure(
    conn: &mut AsyncPgConnection,
    alerts: &Alerts,
    org: i64,
    c_org: &str,
    recharge: Uuid,
    code: &str,
) -> diesel::QueryResult<bool> {
    let reason =
        format!("{MAX_CONSECUTIVE_PAYMENT_FAILURES} payment failures in a row (last: {code})");
    let switched_off =
        orgs::record_payment_failure(conn, org, MAX_CONSECUTIVE_PAYMENT_FAILURES, &reason).await?;
    if switched_off {
        let alert = Alert {
            event: AlertEvent::AutoRechargeDisabled,
            key: recharge.to_string(),
            organization: org,
            c_organization_id: c_org.to_owned(),
            text: format!("Auto-recharge for {c_org} was switched off: {reason}"),
            figures: serde_json::json!({
                "reason": reason,
                "recharge_id": recharge,
                "failures": MAX_CONSECUTIVE_PAYMENT_FAILURES,
            }),
        };
        alerts.raise(conn, &alert).await?;
    }
    Ok(switched_off)
}

/// The alerts of a charge refunded because its quota was not delivered.
/// Set `org`'s quota at the backend to `total` with `policy`'s retries (creating the
/// organisation there if it was never synced); the outcome and the attempts made.
async fn set_total(
    kms: &Arc<dyn Kms>,
    policy: RetryPolicy,
    org: &OrgRow,
    total: Cents,
) -> (Result<KmsOrg, KmsError>, u32) {
    let holder = kms
        .holder(&org.c_organization_id, org.litellm_team_id.as_deref())
        .to_owned();
    with_retries(policy, || {
        let kms = Arc::clone(kms);
        let holder = holder.clone();
        async move {
            match kms.set_quota(&holder, total).await {
                // Never synced: create it with the credited total.
                Err(KmsError::NotFound) => kms.create(&holder, total).await,
                other => other,
            }
        }
    })
    .await
}

fn undelivered_alerts(record: &RechargeRow, attempts: i32, why: &str) -> [Alert; 2] {
    let c_org = record.c_organization_id.clone();
    let figures = serde_json::json!({
        "recharge_id": record.id,
        "amount": Cents(record.amount_cents),
        "total_charge": Cents(record.total_charge_cents),
        "attempts": attempts,
    });
    [
        Alert {
            event: AlertEvent::QuotaBackendUnreachable,
            key: record.id.to_string(),
            organization: record.organization_id,
            c_organization_id: c_org.clone(),
            text: format!(
                "The quota backend did not take {c_org}'s new quota after {attempts} attempts ({why})"
            ),
            figures: figures.clone(),
        },
        Alert {
            event: AlertEvent::Refund,
            key: record.id.to_string(),
            organization: record.organization_id,
            c_organization_id: c_org.clone(),
            text: format!(
                "Refunded ${} to {c_org}: the quota could not be delivered",
                Cents(record.total_charge_cents)
            ),
            figures,
        },
    ]
}
