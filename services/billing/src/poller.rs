//! The safety-net poller: every `POLL_INTERVAL_SECS`, read each auto-recharging
//! organisation's usage from the quota backend and recharge the ones below their minimum
//! balance. With a stock LiteLLM proxy it is the only trigger that tops a team up before its
//! requests are rejected (LiteLLM alerts a team only once it is over budget).
//!
//! - The recharge is the one every automatic trigger runs ([`AutoRecharge`]): same row lock,
//!   same daily and monthly caps, credit in flight counted, so a poll racing a webhook or an
//!   alert charges once (`triggered_by` `poller`).
//! - One pass at a time across replicas (an advisory lock held for the pass), and at most
//!   one per interval (a replica skips when another's pass started less than 90 % of an
//!   interval ago).
//! - The backend is read once per organisation, without retries: an organisation whose
//!   usage cannot be read (backend down, or a KMS that reports no usage) is skipped and
//!   counted, never charged.
//! - Organisations whose balance clearly covers the minimum (credit read in one query per
//!   page) are passed over without taking their lock.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tollgate_db::DbError;
use tollgate_domain::money::Cents;

use crate::auto_recharge::{AutoOutcome, AutoRecharge};
use crate::recharge::Trigger;
use crate::store::orgs::{self, OrgRow};
use crate::store::poller::{self, PollerRun};
use crate::store::recharges;
use crate::store::usage::{self, UsageSource};

/// Organisations read per page.
const PAGE: i64 = 500;
/// Backend reads in flight at once.
const CONCURRENCY: usize = 16;
/// Advisory lock key of the poller pass ("billing-poll").
const LOCK_KEY: i64 = 0x6269_6c6c_706f;

/// What one organisation's turn came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// The balance covers the minimum (or the decision charged nothing).
    Covered,
    /// A recharge was started.
    Recharged,
    /// No usage could be read.
    Unreachable,
    /// The database failed.
    Failed,
}

/// Polls organisations' usage.
pub struct Poller {
    auto: Arc<AutoRecharge>,
    interval: Duration,
}

impl Poller {
    /// A poller meant to pass every `interval`.
    pub fn new(auto: Arc<AutoRecharge>, interval: Duration) -> Self {
        Self { auto, interval }
    }

    /// One pass, unless another replica holds it or passed less than 90 % of an interval
    /// ago (`None`).
    pub async fn pass(&self) -> Result<Option<PollerRun>, DbError> {
        let mut lock_conn = self.auto.recharger().pool().get().await?;
        let this = self;
        let run = lock_conn
            .transaction(async move |conn| {
                let got: LockRow = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS got")
                    .bind::<diesel::sql_types::BigInt, _>(LOCK_KEY)
                    .get_result(conn)
                    .await?;
                if !got.got {
                    return Ok(None);
                }
                if let Some(last) = poller::latest(conn).await? {
                    let since = (Utc::now() - last.started_at).to_std().unwrap_or_default();
                    if since < this.interval.mul_f64(0.9) {
                        return Ok(None);
                    }
                }
                let run = this.work().await.map_err(|e| match e {
                    DbError::Query(q) => q,
                    other => diesel::result::Error::QueryBuilderError(other.to_string().into()),
                })?;
                poller::insert(conn, &run).await?;
                Ok::<_, diesel::result::Error>(Some(run))
            })
            .await?;
        Ok(run)
    }

    async fn work(&self) -> Result<PollerRun, DbError> {
        let mut run = PollerRun {
            started_at: Utc::now(),
            finished_at: Utc::now(),
            organizations: 0,
            usage_read: 0,
            recharges: 0,
            unreachable: 0,
            failed: 0,
        };
        let mut after = 0;
        loop {
            let (page, credit) = {
                let mut conn = self.auto.recharger().pool().get().await?;
                let page = orgs::pollable(&mut conn, after, PAGE).await?;
                let ids: Vec<i64> = page.iter().map(|o| o.id).collect();
                let credit = recharges::figures_by_org(&mut conn, &ids).await?;
                (page, credit)
            };
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            let turns: Vec<(Turn, Option<(i64, Cents)>)> = futures_util::stream::iter(page)
                .map(|org| {
                    let f = credit.get(&org.id).copied().unwrap_or_default();
                    self.turn(org, Cents(f.credited.0.saturating_add(f.in_flight.0)))
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            // Readings the locked path did not record (one statement for the page).
            let readings: Vec<(i64, Cents)> = turns.iter().filter_map(|(_, r)| *r).collect();
            if !readings.is_empty() {
                let mut conn = self.auto.recharger().pool().get().await?;
                usage::record(&mut conn, &readings, UsageSource::Poller).await?;
            }
            for (turn, _) in turns {
                run.organizations += 1;
                match turn {
                    Turn::Covered => run.usage_read += 1,
                    Turn::Recharged => {
                        run.usage_read += 1;
                        run.recharges += 1;
                    }
                    Turn::Unreachable => run.unreachable += 1,
                    Turn::Failed => {
                        run.usage_read += 1;
                        run.failed += 1;
                    }
                }
            }
        }
        run.finished_at = Utc::now();
        Ok(run)
    }

    /// Read `org`'s usage and recharge it when its balance is below the minimum; with the
    /// reading, when it is new and was not recorded on the way.
    async fn turn(&self, org: OrgRow, credit: Cents) -> (Turn, Option<(i64, Cents)>) {
        let kms = self.auto.recharger().kms();
        let holder = kms.holder(&org.c_organization_id, org.litellm_team_id.as_deref());
        let usage = match kms.get(holder).await {
            Ok(found) => found.usage,
            Err(e) => {
                tracing::warn!(organization = %org.c_organization_id, error = %e, "poller: usage not read");
                None
            }
        };
        let Some(usage) = usage else {
            return (Turn::Unreachable, None);
        };
        if credit.0.saturating_sub(usage.0) >= org.minimum_balance_cents {
            let new = org.last_usage_cents.is_none_or(|last| last < usage.0);
            return (Turn::Covered, new.then_some((org.id, usage)));
        }
        // The locked path records the reading itself.
        let turn = match self.auto.run(org.id, usage, Trigger::Poller, None).await {
            Ok(AutoOutcome::NoCharge { .. }) => Turn::Covered,
            Ok(AutoOutcome::Finished(_) | AutoOutcome::Unresolved { .. }) => Turn::Recharged,
            Err(e) => {
                tracing::warn!(organization = %org.c_organization_id, error = %e, "poller: recharge failed");
                Turn::Failed
            }
        };
        (turn, None)
    }
}

#[derive(diesel::QueryableByName)]
struct LockRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    got: bool,
}

/// Pass every `every` (the first after one interval) until `stop`.
pub async fn run(poller: Arc<Poller>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match poller.pass().await {
            Ok(Some(run)) => tracing::info!(
                organizations = run.organizations,
                recharges = run.recharges,
                unreachable = run.unreachable,
                failed = run.failed,
                "poller pass"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "poller pass failed"),
        }
    }
}
