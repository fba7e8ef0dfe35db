//! Deliveries of events that may start an automatic recharge (signed limit webhooks,
//! LiteLLM budget alerts): claim each event once (unique `(source, event_id)`), decide and
//! recharge for the claimant, give every copy the first answer, and let a copy take the
//! event over when its claimant died. Nothing is stored for an event refused before it is
//! claimed (bad signature or token, malformed, unknown team).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tollgate_domain::money::Cents;
use tollgate_web::ApiError;

use crate::answers::{self, Answer};
use crate::auto_recharge::{AutoOutcome, AutoRecharge};
use crate::metrics::Metrics;
use crate::recharge::Trigger;
use crate::store::events::{self, EventRow, EventSource, NewEvent};
use crate::store::orgs;
use crate::store::recharges;

/// How long a claimant holds an event before another process may take it over.
const LEASE_SECS: i32 = 30;
/// How often a concurrent copy looks for the first copy's answer.
const POLL: Duration = Duration::from_millis(20);

/// One verified, parsed delivery.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Who sent it.
    pub source: EventSource,
    /// Its id (given by the sender, or derived from the body).
    pub event_id: String,
    /// `limit_exceeded`, `budget_crossed`, …
    pub event_type: String,
    /// The LiteLLM team it names.
    pub team_id: String,
    /// Spend it reports, in cents rounded up.
    pub usage: Cents,
    /// SHA-256 of the raw body (hex).
    pub body_sha256: String,
    /// The body.
    pub payload: Value,
    /// The recharge trigger it becomes.
    pub trigger: Trigger,
}

/// Claims, processes and answers deliveries.
pub struct EventDesk {
    auto: Arc<AutoRecharge>,
    metrics: Metrics,
    answer_within: Duration,
    answered: moka::future::Cache<(EventSource, String), Arc<Answer>>,
}

impl EventDesk {
    /// `answer_within`: the longest a delivery waits for its outcome before answering
    /// "processing" (the work goes on, and a redelivery gets the outcome). `cache_bytes`
    /// bounds the answers kept for replays by their size (`WEBHOOK_ANSWER_CACHE_MB`): a
    /// count alone let memory grow with every distinct event up to 100 000 of them.
    pub fn new(
        auto: Arc<AutoRecharge>,
        answer_within: Duration,
        cache_bytes: u64,
        metrics: Metrics,
    ) -> Self {
        Self {
            auto,
            metrics,
            answer_within,
            answered: moka::future::Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|key: &(EventSource, String), answer: &Arc<Answer>| {
                    // The body as stored, the key, and the entry's own bookkeeping.
                    let body = serde_json::to_vec(&answer.body).map_or(0, |b| b.len());
                    let bytes = body + key.1.len() + 128;
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
        }
    }

    /// The stored event `source`/`event_id`, if any.
    pub async fn find(
        &self,
        source: EventSource,
        event_id: &str,
    ) -> Result<Option<EventRow>, ApiError> {
        let mut conn = self.pool_conn().await?;
        Ok(events::find(&mut conn, source, event_id).await?)
    }

    async fn pool_conn(&self) -> Result<tollgate_db::PooledConn<'_>, ApiError> {
        Ok(self.auto.recharger().pool().get().await?)
    }

    /// One delivery: replay or claim → decide and recharge → answer. 404 for a team no
    /// organisation holds.
    pub async fn deliver(self: &Arc<Self>, incoming: Incoming) -> Result<Answer, ApiError> {
        let key = (incoming.source, incoming.event_id.clone());
        if let Some(answer) = self.answered.get(&key).await {
            return Ok((*answer).clone());
        }
        let mut conn = self.pool_conn().await?;
        let found = events::find(&mut conn, incoming.source, &incoming.event_id).await?;
        let row = match found {
            Some(row) => row,
            None => {
                let Some(org) = orgs::find_by_team(&mut conn, &incoming.team_id).await? else {
                    return Err(ApiError::NotFound(format!(
                        "no organisation for team_id {}",
                        incoming.team_id
                    )));
                };
                let new = NewEvent {
                    source: incoming.source,
                    event_id: incoming.event_id.clone(),
                    event_type: incoming.event_type.clone(),
                    team_id: Some(incoming.team_id.clone()),
                    organization_id: Some(org.id),
                    body_sha256: incoming.body_sha256.clone(),
                    payload: incoming.payload.clone(),
                };
                match events::claim_new(&mut conn, &new, LEASE_SECS).await? {
                    Some(row) => {
                        drop(conn);
                        return self.process(row, incoming).await;
                    }
                    None => events::find(&mut conn, incoming.source, &incoming.event_id)
                        .await?
                        .ok_or_else(|| ApiError::Unavailable("webhook event vanished".into()))?,
                }
            }
        };
        drop(conn);
        self.follow(row, incoming).await
    }

    /// A copy of an event already received: replay its answer, wait for it, or take the
    /// event over when its claimant is gone.
    async fn follow(
        self: &Arc<Self>,
        row: EventRow,
        incoming: Incoming,
    ) -> Result<Answer, ApiError> {
        let deadline = tokio::time::Instant::now() + self.answer_within;
        let mut row = row;
        loop {
            if let Some(answer) = answers::stored(&row)? {
                self.remember(&row, &answer).await;
                return Ok(answer);
            }
            let mut conn = self.pool_conn().await?;
            if row.claimed_until < chrono::Utc::now()
                && events::take_over(&mut conn, row.id, LEASE_SECS).await?
            {
                drop(conn);
                return self.process(row, incoming).await;
            }
            drop(conn);
            if tokio::time::Instant::now() >= deadline {
                return Ok(answers::processing(&row.event_id));
            }
            tokio::time::sleep(POLL).await;
            let mut conn = self.pool_conn().await?;
            row = events::find(&mut conn, row.source, &row.event_id)
                .await?
                .ok_or_else(|| ApiError::Unavailable("webhook event vanished".into()))?;
        }
    }

    async fn remember(&self, row: &EventRow, answer: &Answer) {
        self.answered
            .insert((row.source, row.event_id.clone()), Arc::new(answer.clone()))
            .await;
    }

    /// This caller holds the event: run it on its own task (a dropped connection must not
    /// cut a charge in half) and answer when done, or "processing" at the deadline.
    async fn process(
        self: &Arc<Self>,
        row: EventRow,
        incoming: Incoming,
    ) -> Result<Answer, ApiError> {
        let this = Arc::clone(self);
        let event_id = row.event_id.clone();
        let task = tokio::spawn(async move { this.run(row, incoming).await });
        match tokio::time::timeout(self.answer_within, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ApiError::Internal(anyhow::anyhow!(
                "webhook task failed: {join}"
            ))),
            Err(_) => Ok(answers::processing(&event_id)),
        }
    }

    async fn run(&self, row: EventRow, incoming: Incoming) -> Result<Answer, ApiError> {
        let outcome = self.decide_and_recharge(&row, incoming).await;
        let mut conn = self.pool_conn().await?;
        match outcome {
            Ok(Some(answer)) => {
                let action = answer.action();
                events::answer(
                    &mut conn,
                    row.id,
                    action,
                    answer.status.as_u16(),
                    &answer.body,
                )
                .await?;
                self.remember(&row, &answer).await;
                self.metrics.webhooks.with_label_values(&[action]).inc();
                Ok(answer)
            }
            Ok(None) => {
                events::release(&mut conn, row.id).await?;
                Ok(answers::processing(&row.event_id))
            }
            Err(e) => {
                // Not answered: a redelivery tries again (and finds any recharge it started).
                let _ = events::release(&mut conn, row.id).await;
                Err(e)
            }
        }
    }

    /// The answer, or `None` when a recharge it started is still unresolved.
    async fn decide_and_recharge(
        &self,
        row: &EventRow,
        incoming: Incoming,
    ) -> Result<Option<Answer>, ApiError> {
        let org_id = row
            .organization_id
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("event without organisation")))?;
        // A takeover of an event that already started a recharge answers from that recharge.
        if let Some(recharge) = row.recharge_id {
            let mut conn = self.pool_conn().await?;
            let record = recharges::find(&mut conn, recharge).await?;
            return Ok(match record {
                Some(record) if record.is_final() => {
                    Some(answers::for_record(&row.event_id, &record, None))
                }
                _ => None,
            });
        }
        let outcome = self
            .auto
            .run(org_id, incoming.usage, incoming.trigger, Some(row.id))
            .await?;
        Ok(match outcome {
            AutoOutcome::NoCharge { org, decision } => Some(answers::for_decision(
                &row.event_id,
                &org.c_organization_id,
                &decision,
            )),
            AutoOutcome::Finished(finished) => Some(answers::for_record(
                &row.event_id,
                &finished.record,
                finished.quota,
            )),
            AutoOutcome::Unresolved { recharge, why } => {
                tracing::warn!(event = %row.event_id, %recharge, error = %why, "recharge unresolved");
                None
            }
        })
    }
}
