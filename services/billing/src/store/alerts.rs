//! `billing_alerts`: operator alerts written in the transaction of what they report, sent
//! in the background; `dedupe_key` is unique, so each event is written once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tollgate_db::schema::billing_alerts as alerts;

/// One alert, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    /// Id.
    pub id: i64,
    /// `auto_recharge_disabled`, `refund`, …
    pub event: String,
    /// What makes it unique.
    pub dedupe_key: String,
    /// The organisation it concerns.
    pub organization_id: Option<i64>,
    /// The JSON sent.
    pub payload: Value,
    /// Sends tried.
    pub attempts: i32,
    /// Not before.
    pub next_attempt_at: DateTime<Utc>,
    /// When the receiver took it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last send failed.
    pub last_error: Option<String>,
    /// Written.
    pub created_at: DateTime<Utc>,
}

/// Write an alert unless one with `dedupe_key` exists. Returns whether it was written.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    event: &str,
    dedupe_key: &str,
    organization: Option<i64>,
    payload: &Value,
) -> QueryResult<bool> {
    diesel::insert_into(alerts::table)
        .values((
            alerts::event.eq(event),
            alerts::dedupe_key.eq(dedupe_key),
            alerts::organization_id.eq(organization),
            alerts::payload.eq(payload),
        ))
        .on_conflict(alerts::dedupe_key)
        .do_nothing()
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// Up to `limit` unsent alerts that are due, locked (skipping those another replica holds)
/// until the transaction ends.
pub async fn lock_due(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<AlertRow>> {
    alerts::table
        .filter(alerts::sent_at.is_null())
        .filter(alerts::next_attempt_at.le(diesel::dsl::now))
        .order(alerts::id.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(AlertRow::as_select())
        .load(conn)
        .await
}

/// The receiver took it.
pub async fn mark_sent(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(alerts::table.find(id))
        .set((
            alerts::sent_at.eq(diesel::dsl::now),
            alerts::attempts.eq(alerts::attempts + 1),
            alerts::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A send failed: try again at `next` (or never: `None`).
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    id: i64,
    error: &str,
    next: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    // "Never" is the far future: the row stays, with its error, for the operator to see.
    let next = next.unwrap_or_else(|| Utc::now() + chrono::Duration::days(36_500));
    diesel::update(alerts::table.find(id))
        .set((
            alerts::attempts.eq(alerts::attempts + 1),
            alerts::last_error.eq(error),
            alerts::next_attempt_at.eq(next),
        ))
        .execute(conn)
        .await
        .map(drop)
}
