//! Resolve recharges a previous run left unfinished (the process died between charge and
//! record, Stripe timed out, the KMS stayed down through a refund attempt):
//!
//! - `pending`: find the charge at Stripe by the recorded PaymentIntent or by
//!   `metadata.recharge_id`; succeeded → deliver (or refund); declined or 3DS → record it;
//!   none at all, long after any charge call must have ended → `canceled`;
//! - `charged`: deliver, or refund past the KMS budget;
//! - an organisation whose delivery was refunded after a timeout: set its quota to the
//!   credited total again, in case the timed-out write landed after all.
//!
//! One pass at a time across replicas (a transaction-scoped advisory lock), and only
//! records untouched for the grace period, so live pipelines are left alone.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncConnection, RunQueryDsl};
use tokio_util::sync::CancellationToken;
use tollgate_db::DbError;
use tollgate_stripe::{ChargeOutcome, PaymentIntentStatus};

use crate::answers;
use crate::payment_events::PaymentEvents;
use crate::recharge::{Finished, Recharger};
use crate::store::events;
use crate::store::orgs;
use crate::store::recharges::{self, RechargeRow, RechargeStatus};

/// Records looked at per pass.
const BATCH: i64 = 200;
/// Advisory lock key of the reconcile pass ("billing-reconcile").
const LOCK_KEY: i64 = 0x6269_6c6c_7263;

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Records looked at.
    pub examined: usize,
    /// Records that reached a final status.
    pub resolved: usize,
    /// Organisations whose quota was set again to their credited total.
    pub reasserted: usize,
}

/// Resolves unfinished recharges.
pub struct Reconciler {
    recharger: Arc<Recharger>,
    grace: Duration,
    /// A pending record with no charge at Stripe is canceled only after this long.
    cancel_after: Duration,
}

impl Reconciler {
    /// `grace`: leave records younger than this alone; `cancel_after`: how old a pending
    /// record must be before "no charge found" is conclusive.
    pub fn new(recharger: Arc<Recharger>, grace: Duration, cancel_after: Duration) -> Self {
        Self {
            recharger,
            grace,
            cancel_after,
        }
    }

    /// One pass; `None` when another replica holds the pass.
    pub async fn pass(&self) -> Result<Option<Report>, DbError> {
        let mut lock_conn = self.recharger.pool().get().await?;
        let this = self;
        let result = lock_conn
            .transaction(async move |conn| {
                let got: LockRow = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS got")
                    .bind::<diesel::sql_types::BigInt, _>(LOCK_KEY)
                    .get_result(conn)
                    .await?;
                if !got.got {
                    return Ok(None);
                }
                this.work().await.map(Some).map_err(|e| match e {
                    DbError::Query(q) => q,
                    other => diesel::result::Error::QueryBuilderError(other.to_string().into()),
                })
            })
            .await?;
        Ok(result)
    }

    async fn work(&self) -> Result<Report, DbError> {
        let expired = PaymentEvents::new(Arc::clone(&self.recharger))
            .expire_actions()
            .await?;
        let older_than = Utc::now() - chrono::Duration::from_std(self.grace).unwrap_or_default();
        let records = {
            let mut conn = self.recharger.pool().get().await?;
            recharges::unfinished(&mut conn, older_than, BATCH).await?
        };
        let mut report = Report {
            examined: expired,
            resolved: expired,
            reasserted: 0,
        };
        for record in records {
            report.examined += 1;
            match self.resolve(record).await {
                Ok(true) => report.resolved += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reconcile of a recharge failed"),
            }
        }
        // After the records: a refund this pass made is re-asserted in a later one, past the
        // grace, when any write still in flight has landed.
        let due = {
            let mut conn = self.recharger.pool().get().await?;
            orgs::due_reassert(&mut conn, older_than, BATCH).await?
        };
        for org in due {
            match self.recharger.reassert_quota(org).await {
                Ok(true) => report.reasserted += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "quota re-assert failed"),
            }
        }
        Ok(report)
    }

    /// Try to finish one record; true when it reached a final status.
    async fn resolve(&self, record: RechargeRow) -> Result<bool, DbError> {
        let id = record.id;
        let finished = match record.status() {
            RechargeStatus::Charged => self.recharger.deliver(id).await.ok(),
            RechargeStatus::Pending => self.resolve_pending(record).await?,
            RechargeStatus::Succeeded
            | RechargeStatus::PaymentFailed
            | RechargeStatus::RequiresAction
            | RechargeStatus::Refunded
            | RechargeStatus::Canceled => None,
        };
        let Some(finished) = finished else {
            return Ok(false);
        };
        if finished.record.is_final() {
            tracing::info!(recharge = %id, status = %finished.record.status, "reconciled");
            self.answer_event(&finished).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn resolve_pending(&self, record: RechargeRow) -> Result<Option<Finished>, DbError> {
        let stripe = self.recharger.stripe();
        let customer = {
            let mut conn = self.recharger.pool().get().await?;
            let org = orgs::find_id(&mut conn, record.organization_id).await?;
            org.stripe_customer_id
        };
        let found = match (&record.payment_intent_id, &customer) {
            (Some(pi), _) => stripe.retrieve_payment_intent(pi).await.map(Some),
            (None, Some(customer)) => {
                stripe
                    .find_payment_intent(customer, "recharge_id", &record.id.to_string())
                    .await
            }
            (None, None) => Ok(None),
        };
        let intent = match found {
            Ok(intent) => intent,
            Err(e) => {
                tracing::warn!(recharge = %record.id, error = %e, "cannot look the charge up yet");
                return Ok(None);
            }
        };
        let Some(intent) = intent else {
            let age = Utc::now() - record.created_at;
            if age.to_std().unwrap_or_default() < self.cancel_after {
                return Ok(None);
            }
            let mut conn = self.recharger.pool().get().await?;
            recharges::mark_unpaid(
                &mut conn,
                record.id,
                RechargeStatus::Canceled,
                None,
                "not_charged",
                "no charge was made for this recharge",
            )
            .await?;
            let record = recharges::find(&mut conn, record.id)
                .await?
                .unwrap_or(record);
            return Ok(Some(Finished {
                record,
                quota: None,
            }));
        };
        let outcome = match intent.status {
            PaymentIntentStatus::Succeeded => ChargeOutcome::Succeeded(intent),
            PaymentIntentStatus::RequiresAction => ChargeOutcome::RequiresAction {
                payment_intent_id: Some(intent.id.clone()),
                message: "the card needs the holder's authentication".into(),
                next_action: None,
            },
            PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::Canceled => {
                ChargeOutcome::Declined {
                    code: "payment_failed".into(),
                    decline_code: None,
                    message: format!("payment {} ended {}", intent.id, intent.status.as_str()),
                    payment_intent_id: Some(intent.id.clone()),
                }
            }
            _ => return Ok(None),
        };
        match self
            .recharger
            .apply_charge_outcome(record, Ok(outcome))
            .await
        {
            Ok(finished) => Ok(Some(finished)),
            Err(crate::recharge::PipelineError::Db(e)) => Err(e),
            Err(crate::recharge::PipelineError::PaymentUnknown(_)) => Ok(None),
        }
    }

    /// The event that started a now-final recharge gets its answer stored, so its replays
    /// (and the console) show the outcome.
    async fn answer_event(&self, finished: &Finished) -> Result<(), DbError> {
        let mut conn = self.recharger.pool().get().await?;
        if let Some(row) = events::find_by_recharge(&mut conn, finished.record.id).await? {
            let answer = answers::for_record(&row.event_id, &finished.record, finished.quota);
            events::answer(
                &mut conn,
                row.id,
                answer.action(),
                answer.status.as_u16(),
                &answer.body,
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(diesel::QueryableByName)]
struct LockRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    got: bool,
}

/// Reconcile at start-up, then every `every` or when `wake` is notified, until `stop`.
pub async fn run(
    reconciler: Arc<Reconciler>,
    every: Duration,
    wake: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    loop {
        match reconciler.pass().await {
            Ok(Some(report)) if report.examined > 0 || report.reasserted > 0 => {
                tracing::info!(
                    examined = report.examined,
                    resolved = report.resolved,
                    reasserted = report.reasserted,
                    "reconcile pass"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconcile pass failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
        }
    }
}
