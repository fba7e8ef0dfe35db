//! The JSON answers of the API, as types: what handlers send and what clients read back.
//! Money in dollars (at most two decimals), ids as the caller knows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_domain::money::Cents;
use tollgate_domain::recharge::AutoDecision;
use tollgate_web::error::ErrorDetail;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::OrgRole;
use crate::month_usage::MonthUsage;
use crate::organizations::OrgView;
use crate::payment_events::Applied;
use crate::settings::QuotaBackend;
use crate::store::audit::AuditRow;
use crate::store::events::{EventRow, EventSource, EventStatus};
use crate::store::members::{MemberRole, MemberRow};
use crate::store::poller::PollerRun;
use crate::store::recharges::{RechargeRow, RechargeStatus, TriggeredBy};
use crate::store::Page;

/// A saved card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardView {
    /// Stripe's `pm_…` id.
    pub id: String,
    /// `visa`, …
    pub brand: Option<String>,
    /// The last four digits.
    pub last4: Option<String>,
}

/// An organisation with its balance figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    /// The operator's organisation id.
    pub c_organization_id: String,
    /// The caller's standing in it.
    pub role: OrgRole,
    /// The LiteLLM team (LiteLLM backend).
    pub litellm_team_id: Option<String>,
    /// Stripe's `cus_…`.
    pub stripe_customer_id: Option<String>,
    /// Recharge when the balance falls below this.
    pub minimum_balance: Cents,
    /// Recharge up to this.
    pub target_balance: Cents,
    /// The smallest recharge.
    pub minimum_recharge_amount: Cents,
    /// Automatic recharges per day, at most.
    pub max_daily_recharges: i32,
    /// Whether limit events recharge.
    pub auto_recharge_enabled: bool,
    /// Why auto-recharge was switched off, when it was.
    pub auto_recharge_disabled_reason: Option<String>,
    /// Why auto-recharge is paused (a dispute), when it is.
    pub auto_recharge_paused_reason: Option<String>,
    /// The monthly cap of automatic recharges, if any.
    pub max_monthly_recharge_amount: Option<Cents>,
    /// Automatic recharges this calendar month (UTC).
    pub automatic_recharged_this_month: Cents,
    /// Failed charges in a row.
    pub consecutive_payment_failures: i32,
    /// The card charged off-session.
    pub payment_method: Option<CardView>,
    /// Every recharge delivered.
    pub credited_total: Cents,
    /// Recharges charged but not yet delivered.
    pub pending_credit: Cents,
    /// Where the quota lives.
    pub quota_backend: QuotaBackend,
    /// The quota the backend last reported.
    pub kms_quota: Option<Cents>,
    /// The usage the backend last reported.
    pub last_usage: Option<Cents>,
    /// When that usage was read.
    pub last_usage_at: Option<DateTime<Utc>>,
    /// When the quota was last read or written.
    pub kms_synced_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub updated_at: DateTime<Utc>,
}

/// One recharge record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RechargeView {
    /// Its id.
    pub id: Uuid,
    /// The organisation.
    pub c_organization_id: String,
    /// Quota bought.
    pub amount: Cents,
    /// The fee on top.
    pub fee: Cents,
    /// What the card is charged.
    pub total_charge: Cents,
    /// ISO currency code, lower case.
    pub currency: String,
    /// Where it is.
    pub status: RechargeStatus,
    /// What started it.
    pub triggered_by: TriggeredBy,
    /// Whether a limit event or alert started it.
    pub triggered_by_webhook: bool,
    /// That event.
    pub webhook_event_id: Option<String>,
    /// Stripe's `pi_…`.
    pub payment_intent_id: Option<String>,
    /// Why the charge failed or was refunded.
    pub failure_code: Option<String>,
    /// The same, for people.
    pub failure_message: Option<String>,
    /// Stripe's `re_…`, when refunded.
    pub refund_id: Option<String>,
    /// Quota delivery attempts.
    pub kms_attempts: i32,
    /// Stripe's `next_action` while 3DS waits.
    pub next_action: Option<Value>,
    /// When a waiting 3DS is canceled.
    pub action_expires_at: Option<DateTime<Utc>>,
    /// Refunded so far (dashboard refunds included).
    pub refunded_amount: Cents,
    /// When the charge was disputed.
    pub disputed_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it reached a final status.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One webhook event and its first answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// The sender's event id (or `sha256:` of the body).
    pub event_id: String,
    /// Who sent it.
    pub source: EventSource,
    /// Its type.
    pub event_type: String,
    /// The team or organisation it names.
    pub team_id: Option<String>,
    /// Where handling is.
    pub status: EventStatus,
    /// What billing did.
    pub action: Option<String>,
    /// The status it was answered with.
    pub http_status: Option<i32>,
    /// The recharge it started.
    pub recharge_id: Option<Uuid>,
    /// The body as received.
    pub payload: Value,
    /// The answer, repeated to replays.
    pub response: Option<Value>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A pass of the safety-net poller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PollerRunView {
    /// Its start.
    pub started_at: DateTime<Utc>,
    /// Its end.
    pub finished_at: DateTime<Utc>,
    /// Organisations looked at.
    pub organizations: i32,
    /// Usage readings taken.
    pub usage_read: i32,
    /// Recharges started.
    pub recharges: i32,
    /// Organisations whose backend did not answer.
    pub unreachable: i32,
    /// Organisations whose recharge failed.
    pub failed: i32,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// Supabase `auth.users.id`.
    pub user_id: Uuid,
    /// `admin` or `viewer`.
    pub role: MemberRole,
    /// When they were added.
    pub created_at: DateTime<Utc>,
    /// When their role last changed.
    pub updated_at: DateTime<Utc>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Its id.
    pub id: i64,
    /// `operator` or `user:<uuid>`.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// `{field: {old, new}}`.
    pub changes: Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// `GET /api/organizations/{id}/usage`: an organisation's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MonthUsageAnswer {
    /// Always `true`.
    pub success: bool,
    /// The organisation.
    pub c_organization_id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// 00:00 UTC on its first day.
    pub from: DateTime<Utc>,
    /// 00:00 UTC on the next month's first day.
    pub to: DateTime<Utc>,
    /// Usage in the month, as the backend last reported it.
    pub usage: Cents,
    /// When that was read.
    pub usage_read_at: Option<DateTime<Utc>>,
    /// The month's recharges.
    pub recharges: Vec<RechargeView>,
    /// Their amounts.
    pub recharged_total: Cents,
    /// Of which delivered.
    pub credited_total: Cents,
    /// Quota left, when known.
    pub balance: Option<Cents>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PageOf<T> {
    /// Always `true`.
    pub success: bool,
    /// The page's items.
    pub items: Vec<T>,
    /// Items in all pages.
    pub total: i64,
    /// Its number, from 1.
    pub page: i64,
    /// Items per page.
    pub page_size: i64,
}

/// Who is asking, as `GET /api/organizations` tells the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    /// `ADMIN_TOKEN`.
    Operator,
    /// A signed-in organisation member.
    Member,
}

/// `GET /api/organizations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationList {
    /// Always `true`.
    pub success: bool,
    /// The page's organisations.
    pub items: Vec<OrganizationView>,
    /// Organisations the caller sees.
    pub total: i64,
    /// Its number, from 1.
    pub page: i64,
    /// Items per page.
    pub page_size: i64,
    /// Where the quota lives.
    pub quota_backend: QuotaBackend,
    /// Who is asking.
    pub caller: CallerKind,
    /// The poller's last pass.
    pub last_poll: Option<PollerRunView>,
}

/// The quota as the backend answered a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackendOrg {
    /// The organisation.
    pub c_organization_id: String,
    /// Its team at the backend.
    pub l_team_id: String,
    /// Its quota there.
    pub quota: Cents,
}

/// An organisation, after a read or a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationAnswer {
    /// Always `true`.
    pub success: bool,
    /// The organisation.
    pub organization: OrganizationView,
    /// `POST …/payment-method`: the card Stripe attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<CardView>,
    /// `POST …/sync`: what the backend holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<BackendOrg>,
}

/// What a manual recharge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RechargeAction {
    /// Charged and delivered (201).
    Recharged,
    /// Still under way (202).
    Processing,
}

/// Why a manual recharge did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RechargeError {
    /// `quota_not_delivered`, `requires_action` or `payment_failed`.
    pub code: String,
    /// Stripe's or the backend's words.
    pub message: Option<String>,
}

/// `POST /api/organizations/{id}/recharge`.
/// What a recharge answers with 503: the charge was refunded because the quota backend
/// refused it (`quota_not_delivered`, with `recharge`), or the database or Stripe is
/// unavailable (the common error body, without `recharge`). Documentation only: the two
/// bodies are [`RechargeAnswer`] and `tollgate_web::error::ErrorBody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RechargeUnavailable {
    /// Always `false`.
    pub success: bool,
    /// `quota_not_delivered` or `unavailable`.
    pub error: RechargeError,
    /// The refunded recharge, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recharge: Option<RechargeView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RechargeAnswer {
    /// Whether it delivered or is under way.
    pub success: bool,
    /// On success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RechargeAction>,
    /// On delivery: the quota added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recharged_amount: Option<Cents>,
    /// On failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RechargeError>,
    /// The record.
    pub recharge: RechargeView,
}

/// `GET /api/organizations/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    /// Always `true`.
    pub success: bool,
    /// Every member.
    pub items: Vec<MemberView>,
}

/// `POST /api/organizations/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberAnswer {
    /// Always `true`.
    pub success: bool,
    /// The member as stored.
    pub member: MemberView,
}

/// `DELETE /api/organizations/{id}/members/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemovedAnswer {
    /// Always `true`.
    pub success: bool,
    /// The member removed.
    pub removed: MemberView,
}

/// What billing did with a limit event or a budget alert: its answer's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    /// Charged and delivered.
    AutoRecharged,
    /// The card asks for 3-D Secure: the recharge waits for the holder.
    RequiresAction,
    /// The charge failed.
    PaymentFailed,
    /// Charged, but the quota backend refused the quota: refunded (503).
    Refunded,
    /// The first copy of the event is still being worked on (202).
    Processing,
    /// Auto-recharge is off.
    None,
    /// Auto-recharge is paused by a dispute.
    Paused,
    /// The balance is above the minimum.
    NotNeeded,
    /// No saved card.
    NoPaymentMethod,
    /// The day's automatic recharges are used up.
    DailyLimitReached,
    /// The month's cap would be passed.
    MonthlyLimitReached,
}

impl EventAction {
    /// The name stored in `webhook_events.action` and used as a metric label (the JSON
    /// name).
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::AutoRecharged => "auto_recharged",
            EventAction::RequiresAction => "requires_action",
            EventAction::PaymentFailed => "payment_failed",
            EventAction::Refunded => "refunded",
            EventAction::Processing => "processing",
            EventAction::None => "none",
            EventAction::Paused => "paused",
            EventAction::NotNeeded => "not_needed",
            EventAction::NoPaymentMethod => "no_payment_method",
            EventAction::DailyLimitReached => "daily_limit_reached",
            EventAction::MonthlyLimitReached => "monthly_limit_reached",
        }
    }

    /// The action of a decision; a decision to recharge is `auto_recharged`.
    pub fn of(decision: &AutoDecision) -> Self {
        match decision {
            AutoDecision::Disabled => EventAction::None,
            AutoDecision::Paused => EventAction::Paused,
            AutoDecision::NotNeeded => EventAction::NotNeeded,
            AutoDecision::NoPaymentMethod => EventAction::NoPaymentMethod,
            AutoDecision::DailyLimitReached => EventAction::DailyLimitReached,
            AutoDecision::MonthlyLimitReached => EventAction::MonthlyLimitReached,
            AutoDecision::Recharge(_) => EventAction::AutoRecharged,
        }
    }
}

/// The answer to a limit event or a budget alert, stored with the event and given again to
/// each of its copies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventAnswer {
    /// `false` only when the charge was refunded (`refunded`, 503).
    pub success: bool,
    /// What billing did; absent when an alert was ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<EventAction>,
    /// The event's id (the sender's, or `sha256:` of the body); absent for an ignored alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The organisation it was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The recharge it started, once final or waiting for 3-D Secure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recharge: Option<RechargeView>,
    /// On delivery: the quota the backend confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Cents>,
    /// On delivery: the quota added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recharged_amount: Option<Cents>,
    /// `refunded`: why (`quota_not_delivered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// `processing`: what to do next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `true` for an alert billing does not act on (not a team's budget).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// An ignored alert's `event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// An ignored alert's `event_group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_group: Option<String>,
}

/// `POST /webhooks/stripe`'s answer, stored with the event and given again to its copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StripeAnswer {
    /// Always `true`.
    pub success: bool,
    /// Always `true`.
    pub received: bool,
    /// Stripe's `evt_…`.
    pub event_id: String,
    /// What the event did; `null` when it was answered before this was recorded.
    pub action: Option<Applied>,
}

/// An organisation with its balance figures, on `backend`.
pub fn organization(view: &OrgView, backend: QuotaBackend) -> OrganizationView {
    let (org, f) = (&view.org, &view.figures);
    OrganizationView {
        c_organization_id: org.c_organization_id.clone(),
        role: view.role,
        litellm_team_id: org.litellm_team_id.clone(),
        stripe_customer_id: org.stripe_customer_id.clone(),
        minimum_balance: Cents(org.minimum_balance_cents),
        target_balance: Cents(org.target_balance_cents),
        minimum_recharge_amount: Cents(org.minimum_recharge_amount_cents),
        max_daily_recharges: org.max_daily_recharges,
        auto_recharge_enabled: org.auto_recharge_enabled,
        auto_recharge_disabled_reason: org.auto_recharge_disabled_reason.clone(),
        auto_recharge_paused_reason: org.auto_recharge_paused_reason.clone(),
        max_monthly_recharge_amount: org.max_monthly_recharge_cents.map(Cents),
        automatic_recharged_this_month: f.automatic_this_month,
        consecutive_payment_failures: org.consecutive_payment_failures,
        payment_method: org.default_payment_method_id.as_ref().map(|id| CardView {
            id: id.clone(),
            brand: org.payment_method_brand.clone(),
            last4: org.payment_method_last4.clone(),
        }),
        credited_total: f.credited,
        pending_credit: f.in_flight,
        quota_backend: backend,
        kms_quota: org.kms_quota_cents.map(Cents),
        last_usage: org.last_usage_cents.map(Cents),
        last_usage_at: org.last_usage_at,
        kms_synced_at: org.kms_synced_at,
        created_at: org.created_at,
        updated_at: org.updated_at,
    }
}

/// One recharge record.
pub fn recharge(r: &RechargeRow) -> RechargeView {
    RechargeView {
        id: r.id,
        c_organization_id: r.c_organization_id.clone(),
        amount: Cents(r.amount_cents),
        fee: Cents(r.fee_cents),
        total_charge: Cents(r.total_charge_cents),
        currency: r.currency.clone(),
        status: r.status,
        triggered_by: r.triggered_by,
        triggered_by_webhook: r.triggered_by_webhook,
        webhook_event_id: r.webhook_event_id.clone(),
        payment_intent_id: r.payment_intent_id.clone(),
        failure_code: r.failure_code.clone(),
        failure_message: r.failure_message.clone(),
        refund_id: r.refund_id.clone(),
        kms_attempts: r.kms_attempts,
        next_action: r.next_action.clone(),
        action_expires_at: r.action_expires_at,
        refunded_amount: Cents(r.refunded_cents),
        disputed_at: r.disputed_at,
        created_at: r.created_at,
        completed_at: r.completed_at,
    }
}

/// One webhook event and its first answer.
pub fn event(e: &EventRow) -> EventView {
    EventView {
        event_id: e.event_id.clone(),
        source: e.source,
        event_type: e.event_type.clone(),
        team_id: e.team_id.clone(),
        status: e.status,
        action: e.action.clone(),
        http_status: e.http_status,
        recharge_id: e.recharge_id,
        payload: e.payload.clone(),
        response: e.response.clone(),
        received_at: e.received_at,
        answered_at: e.answered_at,
    }
}

/// A pass of the safety-net poller.
pub fn poller_run(run: &PollerRun) -> PollerRunView {
    PollerRunView {
        started_at: run.started_at,
        finished_at: run.finished_at,
        organizations: run.organizations,
        usage_read: run.usage_read,
        recharges: run.recharges,
        unreachable: run.unreachable,
        failed: run.failed,
    }
}

/// One member.
pub fn member(m: &MemberRow) -> MemberView {
    MemberView {
        user_id: m.user_id,
        role: m.role,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// One audit entry.
pub fn audit_entry(a: &AuditRow) -> AuditEntry {
    AuditEntry {
        id: a.id,
        actor: a.actor.clone(),
        action: a.action.clone(),
        changes: a.changes.clone(),
        created_at: a.created_at,
    }
}

/// An organisation's month.
pub fn month_usage(c_org: &str, u: &MonthUsage) -> MonthUsageAnswer {
    MonthUsageAnswer {
        success: true,
        c_organization_id: c_org.to_owned(),
        month: u.month.label(),
        from: u.month.start,
        to: u.month.end,
        usage: u.usage,
        usage_read_at: u.usage_read_at,
        recharges: u.recharges.iter().map(recharge).collect(),
        recharged_total: u.recharged_total,
        credited_total: u.credited_total,
        balance: u.balance,
    }
}

/// A page of items.
pub fn page<T>(items: Vec<T>, total: i64, page: Page) -> PageOf<T> {
    PageOf {
        success: true,
        items,
        total,
        page: page.number,
        page_size: page.size,
    }
}
