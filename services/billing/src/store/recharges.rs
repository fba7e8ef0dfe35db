//! `recharge_records` and `credit_ledger`: every recharge attempt, recorded before its
//! charge, and the credit delivered by each succeeded one. Status changes are conditional
//! on the expected current status, so a repeated or late step changes nothing.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::schema::{credit_ledger as ledger, recharge_records as records};
use tollgate_domain::money::Cents;
use uuid::Uuid;

use super::Page;

/// Recorded; the charge may be in flight (outcome unknown until Stripe says).
pub const PENDING: &str = "pending";
/// Money taken; quota not yet delivered.
pub const CHARGED: &str = "charged";
/// Charged and delivered.
pub const SUCCEEDED: &str = "succeeded";
/// Declined or refused: nothing taken.
pub const PAYMENT_FAILED: &str = "payment_failed";
/// The card needs the holder (3DS): nothing taken.
pub const REQUIRES_ACTION: &str = "requires_action";
/// Charged, delivery failed, money returned.
pub const REFUNDED: &str = "refunded";
/// Never charged (reconcile found no charge for it).
pub const CANCELED: &str = "canceled";

/// One recharge, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = records)]
pub struct RechargeRow {
    /// Id (also in the charge's metadata).
    pub id: Uuid,
    /// Internal organisation id.
    pub organization_id: i64,
    /// The caller's organisation id.
    pub c_organization_id: String,
    /// Credited on success.
    pub amount_cents: i64,
    /// Fee on top.
    pub fee_cents: i64,
    /// Charged to the card.
    pub total_charge_cents: i64,
    /// ISO currency.
    pub currency: String,
    /// One of the status constants of this module.
    pub status: String,
    /// `webhook` or `manual`.
    pub triggered_by: String,
    /// Started by a limit webhook.
    pub triggered_by_webhook: bool,
    /// That webhook's event id.
    pub webhook_event_id: Option<String>,
    /// The caller's `Idempotency-Key` (manual recharges).
    pub request_key: Option<String>,
    /// Sent to Stripe with the charge.
    pub idempotency_key: String,
    /// The card charged.
    pub payment_method_id: Option<String>,
    /// The PaymentIntent, once known.
    pub payment_intent_id: Option<String>,
    /// Why it failed (Stripe's code, or Tollgate's).
    pub failure_code: Option<String>,
    /// Human text of the failure.
    pub failure_message: Option<String>,
    /// The refund, when refunded.
    pub refund_id: Option<String>,
    /// KMS calls made to deliver it.
    pub kms_attempts: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Reached a final status.
    pub completed_at: Option<DateTime<Utc>>,
}

impl RechargeRow {
    /// No further step will change it.
    pub fn is_final(&self) -> bool {
        !matches!(self.status.as_str(), PENDING | CHARGED)
    }
}

/// A recharge about to be charged.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = records)]
pub struct NewRecharge {
    /// Fresh id.
    pub id: Uuid,
    /// See [`RechargeRow`].
    pub organization_id: i64,
    /// See [`RechargeRow`].
    pub c_organization_id: String,
    /// See [`RechargeRow`].
    pub amount_cents: i64,
    /// See [`RechargeRow`].
    pub fee_cents: i64,
    /// See [`RechargeRow`].
    pub total_charge_cents: i64,
    /// See [`RechargeRow`].
    pub currency: String,
    /// See [`RechargeRow`].
    pub triggered_by: String,
    /// See [`RechargeRow`].
    pub triggered_by_webhook: bool,
    /// See [`RechargeRow`].
    pub webhook_event_id: Option<String>,
    /// See [`RechargeRow`].
    pub request_key: Option<String>,
    /// See [`RechargeRow`].
    pub idempotency_key: String,
    /// See [`RechargeRow`].
    pub payment_method_id: Option<String>,
}

/// Insert a `pending` record.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewRecharge) -> QueryResult<RechargeRow> {
    diesel::insert_into(records::table)
        .values(new)
        .returning(RechargeRow::as_returning())
        .get_result(conn)
        .await
}

/// By id.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<RechargeRow>> {
    records::table
        .find(id)
        .select(RechargeRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The manual recharge an organisation made with this `Idempotency-Key`.
pub async fn find_by_request_key(
    conn: &mut AsyncPgConnection,
    org: i64,
    key: &str,
) -> QueryResult<Option<RechargeRow>> {
    records::table
        .filter(records::organization_id.eq(org))
        .filter(records::request_key.eq(key))
        .select(RechargeRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Delivered credit: the sum of the ledger.
pub async fn credited_total(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<Cents> {
    ledger::table
        .filter(ledger::organization_id.eq(org))
        .select(sum_cents())
        .first(conn)
        .await
        .map(Cents)
}

/// Credit on its way: records not yet final that may still deliver.
pub async fn in_flight_total(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<Cents> {
    records::table
        .filter(records::organization_id.eq(org))
        .filter(records::status.eq_any([PENDING, CHARGED]))
        .select(sum_cents())
        .first(conn)
        .await
        .map(Cents)
}

#[derive(QueryableByName)]
struct OrgCredit {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    credited: i64,
    #[diesel(sql_type = BigInt)]
    in_flight: i64,
}

/// Delivered and in-flight credit of several organisations in one query (a listing page).
pub async fn credit_by_org(
    conn: &mut AsyncPgConnection,
    orgs: &[i64],
) -> QueryResult<std::collections::HashMap<i64, (Cents, Cents)>> {
    let rows: Vec<OrgCredit> = diesel::sql_query(
        "SELECT o.id, \
           COALESCE((SELECT SUM(amount_cents) FROM credit_ledger l WHERE l.organization_id = o.id), 0)::bigint AS credited, \
           COALESCE((SELECT SUM(amount_cents) FROM recharge_records r \
                     WHERE r.organization_id = o.id AND r.status IN ('pending', 'charged')), 0)::bigint AS in_flight \
         FROM unnest($1::bigint[]) AS o(id)",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(orgs)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, (Cents(r.credited), Cents(r.in_flight))))
        .collect())
}

/// Automatic recharges since UTC midnight that took, or may still take, money.
pub async fn automatic_today(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<i64> {
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    records::table
        .filter(records::organization_id.eq(org))
        .filter(records::triggered_by.eq("webhook"))
        .filter(records::created_at.ge(midnight))
        .filter(records::status.eq_any([PENDING, CHARGED, SUCCEEDED]))
        .select(count_star())
        .first(conn)
        .await
}

/// `pending` → `charged` with the PaymentIntent. A `canceled` record is revived too: money
/// taken is never left unrecorded. False if it was in neither status.
pub async fn mark_charged(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    intent: &str,
) -> QueryResult<bool> {
    diesel::update(
        records::table
            .find(id)
            .filter(records::status.eq_any([PENDING, CANCELED])),
    )
    .set((
        records::status.eq(CHARGED),
        records::payment_intent_id.eq(intent),
        records::completed_at.eq(None::<DateTime<Utc>>),
        records::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Remember the PaymentIntent of a charge whose outcome is not final yet.
pub async fn set_intent(conn: &mut AsyncPgConnection, id: Uuid, intent: &str) -> QueryResult<()> {
    diesel::update(records::table.find(id).filter(records::status.eq(PENDING)))
        .set((
            records::payment_intent_id.eq(intent),
            records::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// `pending` → a final status without money taken (`payment_failed`, `requires_action`,
/// `canceled`). False if it was not pending.
pub async fn mark_unpaid(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: &str,
    intent: Option<&str>,
    code: &str,
    message: &str,
) -> QueryResult<bool> {
    diesel::update(records::table.find(id).filter(records::status.eq(PENDING)))
        .set((
            records::status.eq(status),
            records::payment_intent_id.eq(intent),
            records::failure_code.eq(code),
            records::failure_message.eq(message),
            records::updated_at.eq(diesel::dsl::now),
            records::completed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// `charged` → `succeeded`. False if it was not charged.
pub async fn mark_succeeded(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    kms_attempts: i32,
) -> QueryResult<bool> {
    diesel::update(records::table.find(id).filter(records::status.eq(CHARGED)))
        .set((
            records::status.eq(SUCCEEDED),
            records::kms_attempts.eq(records::kms_attempts + kms_attempts),
            records::failure_code.eq(None::<String>),
            records::failure_message.eq(None::<String>),
            records::updated_at.eq(diesel::dsl::now),
            records::completed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// A delivery attempt failed: count the KMS calls and say why (stays `charged`).
pub async fn note_delivery_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    kms_attempts: i32,
    message: &str,
) -> QueryResult<()> {
    diesel::update(records::table.find(id).filter(records::status.eq(CHARGED)))
        .set((
            records::kms_attempts.eq(records::kms_attempts + kms_attempts),
            records::failure_code.eq("kms_unavailable"),
            records::failure_message.eq(message),
            records::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// `charged` → `refunded`. False if it was not charged.
pub async fn mark_refunded(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    refund: &str,
    message: &str,
) -> QueryResult<bool> {
    diesel::update(records::table.find(id).filter(records::status.eq(CHARGED)))
        .set((
            records::status.eq(REFUNDED),
            records::refund_id.eq(refund),
            records::failure_code.eq("quota_not_delivered"),
            records::failure_message.eq(message),
            records::updated_at.eq(diesel::dsl::now),
            records::completed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// Add the credit of a charged recharge (once: unique per recharge).
pub async fn add_credit(conn: &mut AsyncPgConnection, record: &RechargeRow) -> QueryResult<()> {
    diesel::insert_into(ledger::table)
        .values((
            ledger::organization_id.eq(record.organization_id),
            ledger::recharge_id.eq(record.id),
            ledger::amount_cents.eq(record.amount_cents),
        ))
        .on_conflict(ledger::recharge_id)
        .do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// Records not final and untouched for `grace`, oldest first.
pub async fn unfinished(
    conn: &mut AsyncPgConnection,
    older_than: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<RechargeRow>> {
    records::table
        .filter(records::status.eq_any([PENDING, CHARGED]))
        .filter(records::updated_at.le(older_than))
        .order(records::created_at.asc())
        .limit(limit)
        .select(RechargeRow::as_select())
        .load(conn)
        .await
}

/// A page of an organisation's recharges, newest first, and the total.
pub async fn page(
    conn: &mut AsyncPgConnection,
    org: i64,
    page: Page,
) -> QueryResult<(Vec<RechargeRow>, i64)> {
    let rows = records::table
        .filter(records::organization_id.eq(org))
        .order((records::created_at.desc(), records::id.desc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(RechargeRow::as_select())
        .load(conn)
        .await?;
    let total = records::table
        .filter(records::organization_id.eq(org))
        .select(count_star())
        .first(conn)
        .await?;
    Ok((rows, total))
}

/// `SUM(amount_cents)` as a bigint: Postgres sums bigints as `numeric`, and cents never
/// need a decimal type.
fn sum_cents() -> diesel::expression::SqlLiteral<BigInt> {
    diesel::dsl::sql::<BigInt>("COALESCE(SUM(amount_cents), 0)::bigint")
}
