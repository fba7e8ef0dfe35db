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

use super::text_enum::text_enum;
use super::Page;

text_enum!(
    /// Where a recharge stands (`recharge_records.status`).
    RechargeStatus {
        /// Recorded; the charge may be in flight (outcome unknown until Stripe says).
        Pending => "pending",
        /// Money taken; quota not yet delivered.
        Charged => "charged",
        /// Charged and delivered.
        Succeeded => "succeeded",
        /// Declined or refused: nothing taken.
        PaymentFailed => "payment_failed",
        /// The card needs the holder (3DS): nothing taken yet.
        RequiresAction => "requires_action",
        /// Charged, delivery failed, money returned.
        Refunded => "refunded",
        /// Never charged (reconcile found no charge for it, or 3DS was never completed).
        Canceled => "canceled",
    }
);

impl RechargeStatus {
    /// No further step of the pipeline will change it.
    pub fn is_final(self) -> bool {
        match self {
            RechargeStatus::Pending | RechargeStatus::Charged => false,
            RechargeStatus::Succeeded
            | RechargeStatus::PaymentFailed
            | RechargeStatus::RequiresAction
            | RechargeStatus::Refunded
            | RechargeStatus::Canceled => true,
        }
    }
}

text_enum!(
    /// What started a recharge (`recharge_records.triggered_by`).
    TriggeredBy {
        /// A signed limit webhook.
        Webhook => "webhook",
        /// `POST /api/organizations/{id}/recharge`.
        Manual => "manual",
        /// A budget alert of a LiteLLM proxy.
        LitellmAlert => "litellm_alert",
        /// The safety-net poller.
        Poller => "poller",
    }
);

const PENDING: RechargeStatus = RechargeStatus::Pending;
const CHARGED: RechargeStatus = RechargeStatus::Charged;
/// `failure_code` of a `charged` record whose delivery was given up: refund it.
const REFUND_DECIDED: &str = "kms_unavailable";
const SUCCEEDED: RechargeStatus = RechargeStatus::Succeeded;
const REFUNDED: RechargeStatus = RechargeStatus::Refunded;
const CANCELED: RechargeStatus = RechargeStatus::Canceled;
const REQUIRES_ACTION: RechargeStatus = RechargeStatus::RequiresAction;
const PAYMENT_FAILED: RechargeStatus = RechargeStatus::PaymentFailed;

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
    /// Where it stands.
    pub status: RechargeStatus,
    /// What started it.
    pub triggered_by: TriggeredBy,
    /// Started by a webhook (a limit webhook or a LiteLLM alert).
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
    /// What the holder must do (Stripe's `next_action`), while `requires_action`.
    pub next_action: Option<serde_json::Value>,
    /// When a `requires_action` recharge is canceled unless completed.
    pub action_expires_at: Option<DateTime<Utc>>,
    /// Refunded outside Tollgate (of the total charge).
    pub refunded_cents: i64,
    /// When a dispute was opened on its charge.
    pub disputed_at: Option<DateTime<Utc>>,
}

impl RechargeRow {
    /// Where it stands.
    pub fn status(&self) -> RechargeStatus {
        self.status
    }

    /// No further step of the pipeline will change it.
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    /// A delivery gave up on this `charged` record: it is refunded, never delivered.
    pub fn refund_decided(&self) -> bool {
        self.status == RechargeStatus::Charged
            && self.failure_code.as_deref() == Some(REFUND_DECIDED)
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
    pub triggered_by: TriggeredBy,
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

/// By id, locked until the caller's transaction ends.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<RechargeRow>> {
    records::table
        .find(id)
        .select(RechargeRow::as_select())
        .for_update()
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

/// Credit on its way: records not yet final that may still deliver, and charges waiting
/// for the holder's action (until they expire), so that no second charge is made while
/// the holder may still complete the first.
pub async fn in_flight_total(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<Cents> {
    records::table
        .filter(records::organization_id.eq(org))
        .filter(
            records::status
                .eq_any([PENDING, CHARGED])
                .or(records::status
                    .eq(REQUIRES_ACTION)
                    .and(records::action_expires_at.gt(diesel::dsl::now))),
        )
        .select(sum_cents())
        .first(conn)
        .await
        .map(Cents)
}

/// An organisation's money figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgFigures {
    /// Delivered credit (the ledger's sum).
    pub credited: Cents,
    /// Credit on its way (pending and charged recharges).
    pub in_flight: Cents,
    /// Credit of this UTC month's automatic recharges that took or may take money.
    pub automatic_this_month: Cents,
}

#[derive(QueryableByName)]
struct FiguresRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    credited: i64,
    #[diesel(sql_type = BigInt)]
    in_flight: i64,
    #[diesel(sql_type = BigInt)]
    automatic_this_month: i64,
}

/// The figures of several organisations in one query (a listing page, a poller page).
pub async fn figures_by_org(
    conn: &mut AsyncPgConnection,
    orgs: &[i64],
) -> QueryResult<std::collections::HashMap<i64, OrgFigures>> {
    let rows: Vec<FiguresRow> = diesel::sql_query(
        "SELECT o.id, \
           COALESCE((SELECT SUM(amount_cents) FROM credit_ledger l WHERE l.organization_id = o.id), 0)::bigint AS credited, \
           COALESCE((SELECT SUM(amount_cents) FROM recharge_records r \
                     WHERE r.organization_id = o.id AND (r.status IN ('pending', 'charged') \
                       OR (r.status = 'requires_action' AND r.action_expires_at > now()))), 0)::bigint AS in_flight, \
           COALESCE((SELECT SUM(amount_cents) FROM recharge_records r \
                     WHERE r.organization_id = o.id AND r.triggered_by <> 'manual' \
                       AND r.created_at >= $2 \
                       AND r.status IN ('pending', 'charged', 'succeeded')), 0)::bigint AS automatic_this_month \
         FROM unnest($1::bigint[]) AS o(id)",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(orgs)
    .bind::<diesel::sql_types::Timestamptz, _>(month_start(Utc::now()))
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let figures = OrgFigures {
                credited: Cents(r.credited),
                in_flight: Cents(r.in_flight),
                automatic_this_month: Cents(r.automatic_this_month),
            };
            (r.id, figures)
        })
        .collect())
}

/// One organisation's figures.
pub async fn figures(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<OrgFigures> {
    Ok(figures_by_org(conn, &[org])
        .await?
        .remove(&org)
        .unwrap_or_default())
}

/// Statuses of automatic recharges that count toward the caps: they took money, or may.
const COUNTED: [RechargeStatus; 3] = [PENDING, CHARGED, SUCCEEDED];

/// Automatic recharges (every trigger but manual) since UTC midnight that took, or may
/// still take, money.
pub async fn automatic_today(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<i64> {
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    records::table
        .filter(records::organization_id.eq(org))
        .filter(records::triggered_by.ne(TriggeredBy::Manual))
        .filter(records::created_at.ge(midnight))
        .filter(records::status.eq_any(COUNTED))
        .select(count_star())
        .first(conn)
        .await
}

/// Credit of the automatic recharges since the first of this UTC month that took, or may
/// still take, money (the monthly cap's figure).
pub async fn automatic_this_month(conn: &mut AsyncPgConnection, org: i64) -> QueryResult<Cents> {
    records::table
        .filter(records::organization_id.eq(org))
        .filter(records::triggered_by.ne(TriggeredBy::Manual))
        .filter(records::created_at.ge(month_start(Utc::now())))
        .filter(records::status.eq_any(COUNTED))
        .select(sum_cents())
        .first(conn)
        .await
        .map(Cents)
}

/// 00:00 UTC on the first of `now`'s month.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Datelike;
    now.date_naive()
        .with_day(1)
        .expect("every month has a first")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

/// `pending` → `charged` with the PaymentIntent. A record that ended without money
/// (`canceled`, `requires_action` the holder then completed, `payment_failed` retried by the
/// holder) is revived too: money taken is never left unrecorded. False if it was in none
/// of these.
pub async fn mark_charged(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    intent: &str,
) -> QueryResult<bool> {
    diesel::update(records::table.find(id).filter(records::status.eq_any([
        PENDING,
        CANCELED,
        REQUIRES_ACTION,
        PAYMENT_FAILED,
    ])))
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
    status: RechargeStatus,
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

/// `pending` → `requires_action`: the holder must authenticate (`next_action` says how)
/// before `expires_at`. False if it was not pending.
pub async fn mark_requires_action(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    intent: Option<&str>,
    message: &str,
    next_action: &serde_json::Value,
    expires_at: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::update(records::table.find(id).filter(records::status.eq(PENDING)))
        .set((
            records::status.eq(REQUIRES_ACTION),
            records::payment_intent_id.eq(intent),
            records::failure_code.eq("authentication_required"),
            records::failure_message.eq(message),
            records::next_action.eq(next_action),
            records::action_expires_at.eq(expires_at),
            records::updated_at.eq(diesel::dsl::now),
            records::completed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// `requires_action` → `payment_failed` or `canceled` (the holder failed, Stripe canceled
/// it, or it expired). False if it was not waiting.
pub async fn end_action(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: RechargeStatus,
    code: &str,
    message: &str,
) -> QueryResult<bool> {
    diesel::update(
        records::table
            .find(id)
            .filter(records::status.eq(REQUIRES_ACTION)),
    )
    .set((
        records::status.eq(status),
        records::failure_code.eq(code),
        records::failure_message.eq(message),
        records::updated_at.eq(diesel::dsl::now),
        records::completed_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// `requires_action` records whose time ran out, oldest first.
pub async fn expired_actions(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<RechargeRow>> {
    records::table
        .filter(records::status.eq(REQUIRES_ACTION))
        .filter(records::action_expires_at.le(diesel::dsl::now))
        .order(records::action_expires_at.asc())
        .limit(limit)
        .select(RechargeRow::as_select())
        .load(conn)
        .await
}

/// The recharge charged through PaymentIntent `intent`.
pub async fn find_by_intent(
    conn: &mut AsyncPgConnection,
    intent: &str,
) -> QueryResult<Option<RechargeRow>> {
    records::table
        .filter(records::payment_intent_id.eq(intent))
        .select(RechargeRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A refund made outside Tollgate: `refunded` (cumulative, of the total charge) is kept if
/// larger than what was known, and the credit taken back is `min(refunded, amount)` (the
/// fee is returned last), in the recharge's one `refund` ledger row. Returns the credit
/// taken back now (0 when nothing changed).
pub async fn record_outside_refund(
    conn: &mut AsyncPgConnection,
    record: &RechargeRow,
    refunded: i64,
) -> QueryResult<Cents> {
    let known = record.refunded_cents;
    if refunded <= known {
        return Ok(Cents(0));
    }
    diesel::update(records::table.find(record.id))
        .set((
            records::refunded_cents.eq(refunded),
            records::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    let before = known.min(record.amount_cents);
    let after = refunded.min(record.amount_cents);
    if after <= before {
        return Ok(Cents(0));
    }
    diesel::insert_into(ledger::table)
        .values((
            ledger::organization_id.eq(record.organization_id),
            ledger::recharge_id.eq(record.id),
            ledger::amount_cents.eq(-after),
            ledger::entry.eq("refund"),
        ))
        .on_conflict((ledger::recharge_id, ledger::entry))
        .do_update()
        .set(ledger::amount_cents.eq(-after))
        .execute(conn)
        .await?;
    Ok(Cents(after - before))
}

/// Note a dispute on the recharge's charge.
pub async fn mark_disputed(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(
        records::table
            .find(id)
            .filter(records::disputed_at.is_null()),
    )
    .set(records::disputed_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
    .map(drop)
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

/// Delivery given up: count the KMS calls, say why, and mark the record to be refunded
/// (it stays `charged` until the refund is recorded). False if it was no longer `charged`.
/// Call it holding the organisation's lock, as deliveries do.
pub async fn note_delivery_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    kms_attempts: i32,
    message: &str,
) -> QueryResult<bool> {
    diesel::update(records::table.find(id).filter(records::status.eq(CHARGED)))
        .set((
            records::kms_attempts.eq(records::kms_attempts + kms_attempts),
            records::failure_code.eq(REFUND_DECIDED),
            records::failure_message.eq(message),
            records::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
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
        .on_conflict((ledger::recharge_id, ledger::entry))
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
        .limit(page.size)
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

/// The organisation's recharges created in `[from, to)`, newest first (at most 500).
pub async fn created_between(
    conn: &mut AsyncPgConnection,
    org: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<RechargeRow>> {
    records::table
        .filter(records::organization_id.eq(org))
        .filter(records::created_at.ge(from))
        .filter(records::created_at.lt(to))
        .order((records::created_at.desc(), records::id.desc()))
        .limit(500)
        .select(RechargeRow::as_select())
        .load(conn)
        .await
}

/// `SUM(amount_cents)` as a bigint: Postgres sums bigints as `numeric`, and cents never
/// need a decimal type.
fn sum_cents() -> diesel::expression::SqlLiteral<BigInt> {
    diesel::dsl::sql::<BigInt>("COALESCE(SUM(amount_cents), 0)::bigint")
}
