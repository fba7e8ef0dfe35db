//! Ingest: new-api's consume logs into Tollgate's rollups, exactly once, fresh.
//!
//! Each pass, in one Tollgate transaction that holds the source's state row lock (so
//! replicas take turns):
//! 1. forget the gaps (ids below the highest seen that were missing: not committed yet, or
//!    rolled back) that can no longer fill: recorded longer ago than the grace, or whose
//!    upper neighbour's `created_at` is older than the grace by new-api's newest log; then
//!    the oldest beyond `INGEST_MAX_GAPS`;
//! 2. re-read every remaining gap id and ingest those that have appeared;
//! 3. read logs above the highest id seen, in id order, recording the id holes between them
//!    as gaps, except those already past the grace by the same rule (a backfill over an old
//!    table with many holes records none);
//! 4. add the consume logs (type 2) to the three rollup levels and the log index, and
//!    save the new state.
//!
//! State and rollups commit together, so a crash repeats a pass instead of double
//! counting, and a row committed out of id order is picked up from the gap list instead
//! of being lost.

mod apply;
mod source;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tollgate_db::PgPool;
use tollgate_newapi_schema::NewapiPool;

pub use apply::{apply_pass, Pass};
pub use source::{read_after, read_ids, read_tip, LogRow};

/// Why a pass failed (nothing was committed).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Tollgate's database.
    #[error("tollgate database: {0}")]
    Tollgate(#[from] diesel::result::Error),
    /// A Tollgate connection could not be had.
    #[error("tollgate database: {0}")]
    Pool(#[from] tollgate_db::DbError),
    /// new-api's database.
    #[error("new-api database: {0}")]
    Newapi(#[from] tollgate_newapi_schema::NewapiDbError),
}

/// How long and how many missing log ids are waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapPolicy {
    /// Longer than any new-api write stays open (`INGEST_GAP_GRACE_SECS`).
    pub grace: Duration,
    /// At most this many are waited for at once (`INGEST_MAX_GAPS`); beyond it the lowest
    /// ids are given up first.
    pub max_waiting: usize,
}

/// Ingests one new-api `logs` table.
#[derive(Clone)]
pub struct Ingester {
    /// Tollgate's pool.
    pub tollgate: PgPool,
    /// The pool of the database holding `logs`.
    pub logs: NewapiPool,
    /// Logs read per pass.
    pub batch: i64,
    /// Which missing ids are waited for.
    pub gaps: GapPolicy,
}

/// The name of the (single) source in `usage_ingest_state`.
pub const SOURCE: &str = "logs";

impl Ingester {
    /// One pass; returns what it did.
    pub async fn pass(&self) -> Result<Pass, IngestError> {
        let mut conn = self
            .tollgate
            .get()
            .await
            .map_err(tollgate_db::DbError::from)?;
        apply_pass(&mut conn, &self.logs, self.batch, self.gaps).await
    }
}

/// Poll every `interval`, draining full batches at once, until `stop`.
pub async fn worker(ingester: Ingester, interval: Duration, stop: CancellationToken) {
    tracing::info!(?interval, batch = ingester.batch, "ingest worker started");
    loop {
        loop {
            match ingester.pass().await {
                Ok(pass) if pass.read as i64 >= ingester.batch && !stop.is_cancelled() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "ingest pass failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("ingest worker stopped");
}
