//! `organization_balance_config`: prepaid organisations and their settings.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::organization_balance_config as orgs;

use super::Page;

/// One organisation, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    /// Internal id.
    pub id: i64,
    /// The caller's organisation id.
    pub c_organization_id: String,
    /// Stripe customer, once a payment method was added.
    pub stripe_customer_id: Option<String>,
    /// The LiteLLM team, once synced to the KMS.
    pub litellm_team_id: Option<String>,
    /// Recharge below this balance.
    pub minimum_balance_cents: i64,
    /// Recharge up to this balance.
    pub target_balance_cents: i64,
    /// Auto-recharge on.
    pub auto_recharge_enabled: bool,
    /// Why billing switched auto-recharge off.
    pub auto_recharge_disabled_reason: Option<String>,
    /// The card charged off-session.
    pub default_payment_method_id: Option<String>,
    /// Its brand.
    pub payment_method_brand: Option<String>,
    /// Its last four digits.
    pub payment_method_last4: Option<String>,
    /// Automatic recharges allowed per UTC day.
    pub max_daily_recharges: i32,
    /// Smallest recharge.
    pub minimum_recharge_amount_cents: i64,
    /// Failed payments in a row.
    pub consecutive_payment_failures: i32,
    /// The quota the KMS last confirmed.
    pub kms_quota_cents: Option<i64>,
    /// When.
    pub kms_synced_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Cap on this UTC month's automatic credit (none: no cap).
    pub max_monthly_recharge_cents: Option<i64>,
    /// Why automatic recharges are paused (a dispute), until an admin switches them on.
    pub auto_recharge_paused_reason: Option<String>,
    /// The latest usage reading from the quota backend.
    pub last_usage_cents: Option<i64>,
    /// When it was taken.
    pub last_usage_at: Option<DateTime<Utc>>,
}

/// A new organisation.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = orgs)]
pub struct NewOrg {
    /// The caller's organisation id.
    pub c_organization_id: String,
    /// See [`OrgRow`].
    pub minimum_balance_cents: i64,
    /// See [`OrgRow`].
    pub target_balance_cents: i64,
    /// See [`OrgRow`].
    pub auto_recharge_enabled: bool,
    /// See [`OrgRow`].
    pub max_daily_recharges: i32,
    /// See [`OrgRow`].
    pub minimum_recharge_amount_cents: i64,
    /// See [`OrgRow`].
    pub max_monthly_recharge_cents: Option<i64>,
    /// A LiteLLM team adopted at creation.
    pub litellm_team_id: Option<String>,
}

/// Settings changed through `PATCH`; `None` leaves a column alone.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = orgs)]
pub struct OrgChanges {
    /// See [`OrgRow`].
    pub minimum_balance_cents: Option<i64>,
    /// See [`OrgRow`].
    pub target_balance_cents: Option<i64>,
    /// See [`OrgRow`].
    pub auto_recharge_enabled: Option<bool>,
    /// Cleared (`Some(None)`) when auto-recharge is switched back on.
    pub auto_recharge_disabled_reason: Option<Option<String>>,
    /// Cleared (`Some(None)`) when auto-recharge is switched back on.
    pub auto_recharge_paused_reason: Option<Option<String>>,
    /// `Some(None)` removes the cap.
    pub max_monthly_recharge_cents: Option<Option<i64>>,
    /// Reset with the reason.
    pub consecutive_payment_failures: Option<i32>,
    /// See [`OrgRow`].
    pub max_daily_recharges: Option<i32>,
    /// See [`OrgRow`].
    pub minimum_recharge_amount_cents: Option<i64>,
}

/// Insert; `None` when the `c_organization_id` exists already. A `litellm_team_id` held
/// by another organisation is a unique violation.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewOrg) -> QueryResult<Option<OrgRow>> {
    diesel::insert_into(orgs::table)
        .values(new)
        .on_conflict(orgs::c_organization_id)
        .do_nothing()
        .returning(OrgRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Pause automatic recharges with `reason` (kept when already paused). Returns whether this
/// call paused them.
pub async fn pause(conn: &mut AsyncPgConnection, id: i64, reason: &str) -> QueryResult<bool> {
    diesel::update(
        orgs::table
            .find(id)
            .filter(orgs::auto_recharge_paused_reason.is_null()),
    )
    .set((
        orgs::auto_recharge_paused_reason.eq(reason),
        orgs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Organisations the poller looks at, after internal id `after`, in id order: auto-recharge
/// on, not paused, a card saved, and known to the quota backend.
pub async fn pollable(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<OrgRow>> {
    orgs::table
        .filter(orgs::id.gt(after))
        .filter(orgs::auto_recharge_enabled.eq(true))
        .filter(orgs::auto_recharge_paused_reason.is_null())
        .filter(orgs::default_payment_method_id.is_not_null())
        .filter(orgs::stripe_customer_id.is_not_null())
        .filter(orgs::litellm_team_id.is_not_null())
        .order(orgs::id.asc())
        .limit(limit)
        .select(OrgRow::as_select())
        .load(conn)
        .await
}

/// By the caller's organisation id.
pub async fn find(conn: &mut AsyncPgConnection, c_org: &str) -> QueryResult<Option<OrgRow>> {
    orgs::table
        .filter(orgs::c_organization_id.eq(c_org))
        .select(OrgRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// By the caller's organisation id, locked until the transaction ends.
pub async fn lock(conn: &mut AsyncPgConnection, c_org: &str) -> QueryResult<Option<OrgRow>> {
    orgs::table
        .filter(orgs::c_organization_id.eq(c_org))
        .select(OrgRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// By internal id, locked until the transaction ends.
pub async fn lock_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<OrgRow> {
    orgs::table
        .find(id)
        .select(OrgRow::as_select())
        .for_update()
        .first(conn)
        .await
}

/// By internal id, without a lock.
pub async fn find_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<OrgRow> {
    orgs::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .await
}

/// By LiteLLM team id (the limit webhook's `team_id`).
pub async fn find_by_team(conn: &mut AsyncPgConnection, team: &str) -> QueryResult<Option<OrgRow>> {
    orgs::table
        .filter(orgs::litellm_team_id.eq(team))
        .select(OrgRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Apply settings changes.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &OrgChanges,
) -> QueryResult<OrgRow> {
    diesel::update(orgs::table.find(id))
        .set((changes, orgs::updated_at.eq(diesel::dsl::now)))
        .returning(OrgRow::as_returning())
        .get_result(conn)
        .await
}

/// Remember the Stripe customer.
pub async fn set_customer(
    conn: &mut AsyncPgConnection,
    id: i64,
    customer: &str,
) -> QueryResult<()> {
    diesel::update(orgs::table.find(id))
        .set((
            orgs::stripe_customer_id.eq(customer),
            orgs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Make `pm` the card charged off-session.
pub async fn set_payment_method(
    conn: &mut AsyncPgConnection,
    id: i64,
    pm: &str,
    brand: Option<&str>,
    last4: Option<&str>,
) -> QueryResult<OrgRow> {
    diesel::update(orgs::table.find(id))
        .set((
            orgs::default_payment_method_id.eq(pm),
            orgs::payment_method_brand.eq(brand),
            orgs::payment_method_last4.eq(last4),
            orgs::updated_at.eq(diesel::dsl::now),
        ))
        .returning(OrgRow::as_returning())
        .get_result(conn)
        .await
}

/// Record what the quota backend confirmed: the team and the quota. Returns the row.
pub async fn set_kms_state(
    conn: &mut AsyncPgConnection,
    id: i64,
    team: &str,
    quota_cents: i64,
) -> QueryResult<OrgRow> {
    let now = diesel::dsl::now;
    diesel::update(orgs::table.find(id))
        .set((
            orgs::litellm_team_id.eq(team),
            orgs::kms_quota_cents.eq(quota_cents),
            orgs::kms_synced_at.eq(now),
            orgs::updated_at.eq(now),
        ))
        .returning(OrgRow::as_returning())
        .get_result(conn)
        .await
}

/// Have reconcile set the quota to the credited total again: a delivery gave up without
/// knowing whether its last quota write landed (or still will), and was refunded. An earlier
/// request stays in force.
pub async fn mark_reassert(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(orgs::table.find(id))
        .filter(orgs::kms_reassert_after.is_null())
        .set(orgs::kms_reassert_after.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

/// Organisations whose quota is to be set again, asked for at or before `before`.
pub async fn due_reassert(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    orgs::table
        .filter(orgs::kms_reassert_after.le(before))
        .order(orgs::kms_reassert_after.asc())
        .limit(limit)
        .select(orgs::id)
        .load(conn)
        .await
}

/// Whether a re-assert is still asked for (read under the caller's lock).
pub async fn reassert_pending(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    orgs::table
        .find(id)
        .select(orgs::kms_reassert_after.is_not_null())
        .first(conn)
        .await
}

/// The quota was set to the credited total: nothing left to re-assert.
pub async fn clear_reassert(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(orgs::table.find(id))
        .set(orgs::kms_reassert_after.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await
        .map(drop)
}

/// Count a failed payment; at `max_failures` in a row switch auto-recharge off with `reason`.
/// Returns whether it was switched off by this call.
pub async fn record_payment_failure(
    conn: &mut AsyncPgConnection,
    id: i64,
    max_failures: i32,
    reason: &str,
) -> QueryResult<bool> {
    let failures: i32 = diesel::update(orgs::table.find(id))
        .set((
            orgs::consecutive_payment_failures.eq(orgs::consecutive_payment_failures + 1),
            orgs::updated_at.eq(diesel::dsl::now),
        ))
        .returning(orgs::consecutive_payment_failures)
        .get_result(conn)
        .await?;
    if failures >= max_failures {
        let switched = diesel::update(
            orgs::table
                .find(id)
                .filter(orgs::auto_recharge_enabled.eq(true)),
        )
        .set((
            orgs::auto_recharge_enabled.eq(false),
            orgs::auto_recharge_disabled_reason.eq(reason),
        ))
        .execute(conn)
        .await?;
        return Ok(switched == 1);
    }
    Ok(false)
}

/// A payment went through: the failure streak ends.
pub async fn reset_payment_failures(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(
        orgs::table
            .find(id)
            .filter(orgs::consecutive_payment_failures.ne(0)),
    )
    .set(orgs::consecutive_payment_failures.eq(0))
    .execute(conn)
    .await
    .map(drop)
}

/// A page of organisations, newest first, and the total.
pub async fn page(conn: &mut AsyncPgConnection, page: Page) -> QueryResult<(Vec<OrgRow>, i64)> {
    let rows = orgs::table
        .order(orgs::id.desc())
        .limit(page.size)
        .offset(page.offset())
        .select(OrgRow::as_select())
        .load(conn)
        .await?;
    let total = orgs::table.count().get_result(conn).await?;
    Ok((rows, total))
}
