//! The automatic recharge, shared by every automatic trigger (signed limit webhooks, LiteLLM
//! budget alerts, the safety-net poller): under the organisation's row lock, read what the
//! decision needs, decide, and record a `pending` recharge before any charge; then charge
//! and deliver outside the lock. Two triggers at once see each other's recharge as credit in
//! flight, so one need is charged once.

use std::sync::Arc;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use tollgate_db::DbError;
use tollgate_domain::money::Cents;
use tollgate_domain::recharge::{decide, AutoDecision, OrgSnapshot, RechargeSettings};
use uuid::Uuid;

use crate::recharge::{Finished, PipelineError, Recharger, Trigger};
use crate::store::events;
use crate::store::orgs::{self, OrgRow};
use crate::store::recharges;
use crate::store::usage::{self, UsageSource};

/// How an automatic trigger ended.
#[derive(Debug)]
pub enum AutoOutcome {
    /// Decided without a charge (`none`, `not_needed`, `daily_limit_reached`, …).
    NoCharge {
        /// The organisation as read under the lock.
        org: OrgRow,
        /// The decision.
        decision: AutoDecision,
    },
    /// A recharge ran to a final status.
    Finished(Finished),
    /// A recharge was recorded and its charge's outcome is not known yet: reconcile
    /// finishes it.
    Unresolved {
        /// The recharge.
        recharge: Uuid,
        /// Why it is unresolved.
        why: String,
    },
}

/// The organisation's recharge settings as domain values.
pub fn settings_of(org: &OrgRow) -> RechargeSettings {
    RechargeSettings {
        minimum_balance: Cents(org.minimum_balance_cents),
        target_balance: Cents(org.target_balance_cents),
        minimum_recharge_amount: Cents(org.minimum_recharge_amount_cents),
    }
}

/// Everything [`decide`] looks at, read on `conn` (which holds the organisation's lock).
pub async fn snapshot(
    conn: &mut AsyncPgConnection,
    org: &OrgRow,
    usage: Cents,
) -> diesel::QueryResult<OrgSnapshot> {
    Ok(OrgSnapshot {
        auto_recharge_enabled: org.auto_recharge_enabled,
        paused: org.auto_recharge_paused_reason.is_some(),
        has_payment_method: org.default_payment_method_id.is_some()
            && org.stripe_customer_id.is_some(),
        automatic_recharges_today: u32::try_from(recharges::automatic_today(conn, org.id).await?)
            .unwrap_or(u32::MAX),
        max_daily_recharges: u32::try_from(org.max_daily_recharges).unwrap_or(0),
        automatic_this_month: recharges::automatic_this_month(conn, org.id).await?,
        max_monthly_recharge: org.max_monthly_recharge_cents.map(Cents),
        credited: recharges::credited_total(conn, org.id).await?,
        in_flight: recharges::in_flight_total(conn, org.id).await?,
        usage,
        settings: settings_of(org),
    })
}

/// Runs automatic recharges.
pub struct AutoRecharge {
    recharger: Arc<Recharger>,
}

impl AutoRecharge {
    /// Over the shared pipeline.
    pub fn new(recharger: Arc<Recharger>) -> Self {
        Self { recharger }
    }

    /// The pipeline.
    pub fn recharger(&self) -> &Arc<Recharger> {
        &self.recharger
    }

    /// Decide for organisation `org_id` at `usage`, and run the recharge when one is
    /// needed. `event`: the `webhook_events` row to link the recharge to, in the deciding
    /// transaction (so a takeover of the event finds it).
    pub async fn run(
        &self,
        org_id: i64,
        usage: Cents,
        trigger: Trigger,
        event: Option<i64>,
    ) -> Result<AutoOutcome, DbError> {
        let recharger = Arc::clone(&self.recharger);
        let source = match &trigger {
            Trigger::Webhook { .. } => Some(UsageSource::LimitWebhook),
            Trigger::LitellmAlert { .. } => Some(UsageSource::LitellmAlert),
            Trigger::Poller => Some(UsageSource::Poller),
            Trigger::Manual { .. } => None,
        };
        let mut conn = self.recharger.pool().get().await?;
        let (org, decision, record) = conn
            .transaction(async move |conn| {
                let org = orgs::lock_id(conn, org_id).await?;
                if let Some(source) = source {
                    usage::record(conn, &[(org.id, usage)], source).await?;
                }
                let decision = decide(&snapshot(conn, &org, usage).await?, recharger.fees());
                let record = match decision {
                    AutoDecision::Recharge(quote) => {
                        let record = recharger.record(conn, &org, quote.amount, &trigger).await?;
                        if let Some(event) = event {
                            events::link_recharge(conn, event, record.id).await?;
                        }
                        Some(record)
                    }
                    _ => None,
                };
                Ok::<_, diesel::result::Error>((org, decision, record))
            })
            .await?;
        drop(conn);
        let Some(record) = record else {
            return Ok(AutoOutcome::NoCharge { org, decision });
        };
        let id = record.id;
        match self.recharger.charge_and_deliver(record, &org).await {
            Ok(finished) => Ok(AutoOutcome::Finished(finished)),
            Err(PipelineError::PaymentUnknown(why)) => {
                Ok(AutoOutcome::Unresolved { recharge: id, why })
            }
            Err(PipelineError::Db(e)) => Err(e),
        }
    }
}
