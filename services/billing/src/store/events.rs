//! `webhook_events`: every signed webhook that passed its signature check, claimed by one
//! processor (unique `(source, event_id)`), and the first answer given to it.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tollgate_db::schema::webhook_events as events;
use uuid::Uuid;

use super::text_enum::text_enum;
use super::Page;

text_enum!(
    /// Where an event stands (`webhook_events.status`).
    EventStatus {
        /// Being processed by the claimant.
        Processing => "processing",
        /// Answered; replays get `response` with `http_status`.
        Answered => "answered",
    }
);

text_enum!(
    /// Who sent an event (`webhook_events.source`).
    EventSource {
        /// A signed limit webhook (`POST /webhooks/litellm/limit-exceeded`).
        Litellm => "litellm",
        /// A LiteLLM budget alert (`POST /webhooks/litellm/budget`).
        LitellmAlert => "litellm_alert",
        /// A Stripe event (`POST /webhooks/stripe`).
        Stripe => "stripe",
    }
);

const PROCESSING: EventStatus = EventStatus::Processing;
const ANSWERED: EventStatus = EventStatus::Answered;

/// One webhook event, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    /// Internal id.
    pub id: i64,
    /// Who sent it.
    pub source: EventSource,
    /// `x-webhook-id`, the body's hash, or Stripe's event id.
    pub event_id: String,
    /// `limit_exceeded`, or Stripe's event type.
    pub event_type: String,
    /// The LiteLLM team named.
    pub team_id: Option<String>,
    /// The organisation it concerns.
    pub organization_id: Option<i64>,
    /// SHA-256 of the raw body (hex).
    pub body_sha256: String,
    /// The body.
    pub payload: Value,
    /// Processing or answered.
    pub status: EventStatus,
    /// The answer's action.
    pub action: Option<String>,
    /// The answer's HTTP status.
    pub http_status: Option<i32>,
    /// The answer's body.
    pub response: Option<Value>,
    /// The recharge it started.
    pub recharge_id: Option<Uuid>,
    /// The claimant's lease.
    pub claimed_until: DateTime<Utc>,
    /// First received.
    pub received_at: DateTime<Utc>,
    /// First answered.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A webhook event to claim.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    /// See [`EventRow`].
    pub source: EventSource,
    /// See [`EventRow`].
    pub event_id: String,
    /// See [`EventRow`].
    pub event_type: String,
    /// See [`EventRow`].
    pub team_id: Option<String>,
    /// See [`EventRow`].
    pub organization_id: Option<i64>,
    /// See [`EventRow`].
    pub body_sha256: String,
    /// See [`EventRow`].
    pub payload: Value,
}

fn lease_end(secs: i32) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(i64::from(secs))
}

/// Insert the event, claimed for `lease_secs`; `None` when it was received before.
pub async fn claim_new(
    conn: &mut AsyncPgConnection,
    new: &NewEvent,
    lease_secs: i32,
) -> QueryResult<Option<EventRow>> {
    diesel::insert_into(events::table)
        .values((new, events::claimed_until.eq(lease_end(lease_secs))))
        .on_conflict((events::source, events::event_id))
        .do_nothing()
        .returning(EventRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The event that started `recharge`, if one did.
pub async fn find_by_recharge(
    conn: &mut AsyncPgConnection,
    recharge: Uuid,
) -> QueryResult<Option<EventRow>> {
    events::table
        .filter(events::recharge_id.eq(recharge))
        .select(EventRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// By source and event id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    source: EventSource,
    event_id: &str,
) -> QueryResult<Option<EventRow>> {
    events::table
        .filter(events::source.eq(source))
        .filter(events::event_id.eq(event_id))
        .select(EventRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Take over an unanswered event whose claimant's lease ran out (its process died or gave
/// up). True if this caller now holds it.
pub async fn take_over(
    conn: &mut AsyncPgConnection,
    id: i64,
    lease_secs: i32,
) -> QueryResult<bool> {
    diesel::update(
        events::table
            .find(id)
            .filter(events::status.eq(PROCESSING))
            .filter(events::claimed_until.lt(diesel::dsl::now)),
    )
    .set(events::claimed_until.eq(lease_end(lease_secs)))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Give the claim up without an answer, so a redelivery processes the event again.
pub async fn release(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(events::table.find(id).filter(events::status.eq(PROCESSING)))
        .set(events::claimed_until.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

/// Link the recharge the event started (in the deciding transaction).
pub async fn link_recharge(
    conn: &mut AsyncPgConnection,
    id: i64,
    recharge: Uuid,
) -> QueryResult<()> {
    diesel::update(events::table.find(id))
        .set(events::recharge_id.eq(recharge))
        .execute(conn)
        .await
        .map(drop)
}

/// The organisation an event turned out to concern (Stripe events name no team).
pub async fn set_organization(conn: &mut AsyncPgConnection, id: i64, org: i64) -> QueryResult<()> {
    diesel::update(events::table.find(id))
        .set(events::organization_id.eq(org))
        .execute(conn)
        .await
        .map(drop)
}

/// Store the first answer (never overwritten).
pub async fn answer(
    conn: &mut AsyncPgConnection,
    id: i64,
    action: &str,
    http_status: u16,
    response: &impl serde::Serialize,
) -> QueryResult<()> {
    let response = serde_json::to_value(response)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::update(events::table.find(id).filter(events::status.eq(PROCESSING)))
        .set((
            events::status.eq(ANSWERED),
            events::action.eq(action),
            events::http_status.eq(i32::from(http_status)),
            events::response.eq(&response),
            events::answered_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A page of an organisation's events, newest first, and the total.
pub async fn page(
    conn: &mut AsyncPgConnection,
    org: i64,
    page: Page,
) -> QueryResult<(Vec<EventRow>, i64)> {
    let rows = events::table
        .filter(events::organization_id.eq(org))
        .order((events::received_at.desc(), events::id.desc()))
        .limit(page.size)
        .offset(page.offset())
        .select(EventRow::as_select())
        .load(conn)
        .await?;
    let total = events::table
        .filter(events::organization_id.eq(org))
        .select(count_star())
        .first(conn)
        .await?;
    Ok((rows, total))
}
