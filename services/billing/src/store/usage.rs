//! `organization_usage_readings`: the quota backend's cumulative usage, one row each time a
//! reading is higher than the last one (usage only grows: `budget_duration` is kept null, so
//! LiteLLM never resets it). A lower reading is stale (an old event arriving late) and is
//! dropped; an equal one adds nothing.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::organization_usage_readings as readings;
use tollgate_domain::money::Cents;

use super::text_enum::text_enum;

text_enum!(
    /// Where a reading came from (`organization_usage_readings.source`).
    UsageSource {
        /// A signed limit webhook's `current_usage`.
        LimitWebhook => "limit_webhook",
        /// A LiteLLM alert's `spend`.
        LitellmAlert => "litellm_alert",
        /// The poller's read of the backend.
        Poller => "poller",
        /// A sync's read of the backend.
        Sync => "sync",
    }
);

/// Record `(organisation, usage cents)` readings from `source`: each that is higher than its
/// organisation's last one becomes a row and the organisation's last reading. Returns how
/// many were recorded.
pub async fn record(
    conn: &mut AsyncPgConnection,
    found: &[(i64, Cents)],
    source: UsageSource,
) -> QueryResult<usize> {
    if found.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
    let usage: Vec<i64> = found.iter().map(|(_, u)| u.0).collect();
    diesel::sql_query(
        "WITH changed AS ( \
           UPDATE organization_balance_config o \
              SET last_usage_cents = r.usage, last_usage_at = now() \
             FROM unnest($1::bigint[], $2::bigint[]) AS r(id, usage) \
            WHERE o.id = r.id AND r.usage >= 0 \
              AND (o.last_usage_cents IS NULL OR o.last_usage_cents < r.usage) \
           RETURNING o.id, r.usage) \
         INSERT INTO organization_usage_readings (organization_id, usage_cents, source) \
         SELECT id, usage, $3 FROM changed",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<BigInt>, _>(&usage)
    .bind::<Text, _>(source.as_str())
    .execute(conn)
    .await
}

/// The last reading taken before `t`: its usage and time.
pub async fn before(
    conn: &mut AsyncPgConnection,
    org: i64,
    t: DateTime<Utc>,
) -> QueryResult<Option<(Cents, DateTime<Utc>)>> {
    readings::table
        .filter(readings::organization_id.eq(org))
        .filter(readings::read_at.lt(t))
        .order(readings::read_at.desc())
        .select((readings::usage_cents, readings::read_at))
        .first::<(i64, DateTime<Utc>)>(conn)
        .await
        .optional()
        .map(|r| r.map(|(u, at)| (Cents(u), at)))
}
