//! `billing_poller_runs`: one row per pass of the safety-net poller.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::billing_poller_runs as runs;

/// Runs kept; older ones are deleted as new ones are written.
const KEEP: i64 = 1_000;

/// One pass, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = runs)]
pub struct PollerRun {
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: DateTime<Utc>,
    /// Organisations looked at.
    pub organizations: i32,
    /// Usage read from the backend.
    pub usage_read: i32,
    /// Automatic recharges started.
    pub recharges: i32,
    /// The backend did not answer, or gave no usage.
    pub unreachable: i32,
    /// Failed for another reason.
    pub failed: i32,
}

/// Store a pass and forget the oldest beyond [`KEEP`].
pub async fn insert(conn: &mut AsyncPgConnection, run: &PollerRun) -> QueryResult<()> {
    let id: i64 = diesel::insert_into(runs::table)
        .values(run)
        .returning(runs::id)
        .get_result(conn)
        .await?;
    diesel::delete(runs::table.filter(runs::id.le(id - KEEP)))
        .execute(conn)
        .await
        .map(drop)
}

/// The newest pass.
pub async fn latest(conn: &mut AsyncPgConnection) -> QueryResult<Option<PollerRun>> {
    runs::table
        .order(runs::id.desc())
        .select(PollerRun::as_select())
        .first(conn)
        .await
        .optional()
}
