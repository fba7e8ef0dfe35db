//! JSON shapes of the API: money in dollars (at most two decimals), ids as the caller
//! knows them.

use serde_json::{json, Value};
use tollgate_domain::money::Cents;

use crate::month_usage::MonthUsage;
use crate::organizations::OrgView;
use crate::settings::QuotaBackend;
use crate::store::audit::AuditRow;
use crate::store::events::EventRow;
use crate::store::members::MemberRow;
use crate::store::poller::PollerRun;
use crate::store::recharges::RechargeRow;

/// An organisation with its balance figures, on `backend`.
pub fn organization(view: &OrgView, backend: QuotaBackend) -> Value {
    let (org, f) = (&view.org, &view.figures);
    json!({
        "c_organization_id": org.c_organization_id,
        "role": view.role,
        "litellm_team_id": org.litellm_team_id,
        "stripe_customer_id": org.stripe_customer_id,
        "minimum_balance": Cents(org.minimum_balance_cents),
        "target_balance": Cents(org.target_balance_cents),
        "minimum_recharge_amount": Cents(org.minimum_recharge_amount_cents),
        "max_daily_recharges": org.max_daily_recharges,
        "auto_recharge_enabled": org.auto_recharge_enabled,
        "auto_recharge_disabled_reason": org.auto_recharge_disabled_reason,
        "auto_recharge_paused_reason": org.auto_recharge_paused_reason,
        "max_monthly_recharge_amount": org.max_monthly_recharge_cents.map(Cents),
        "automatic_recharged_this_month": f.automatic_this_month,
        "consecutive_payment_failures": org.consecutive_payment_failures,
        "payment_method": org.default_payment_method_id.as_ref().map(|id| json!({
            "id": id,
            "brand": org.payment_method_brand,
            "last4": org.payment_method_last4,
        })),
        "credited_total": f.credited,
        "pending_credit": f.in_flight,
        "quota_backend": backend,
        "kms_quota": org.kms_quota_cents.map(Cents),
        "last_usage": org.last_usage_cents.map(Cents),
        "last_usage_at": org.last_usage_at,
        "kms_synced_at": org.kms_synced_at,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
    })
}

/// One recharge record.
pub fn recharge(r: &RechargeRow) -> Value {
    json!({
        "id": r.id,
        "c_organization_id": r.c_organization_id,
        "amount": Cents(r.amount_cents),
        "fee": Cents(r.fee_cents),
        "total_charge": Cents(r.total_charge_cents),
        "currency": r.currency,
        "status": r.status,
        "triggered_by": r.triggered_by,
        "triggered_by_webhook": r.triggered_by_webhook,
        "webhook_event_id": r.webhook_event_id,
        "payment_intent_id": r.payment_intent_id,
        "failure_code": r.failure_code,
        "failure_message": r.failure_message,
        "refund_id": r.refund_id,
        "kms_attempts": r.kms_attempts,
        "next_action": r.next_action,
        "action_expires_at": r.action_expires_at,
        "refunded_amount": Cents(r.refunded_cents),
        "disputed_at": r.disputed_at,
        "created_at": r.created_at,
        "completed_at": r.completed_at,
    })
}

/// One webhook event and its first answer.
pub fn event(e: &EventRow) -> Value {
    json!({
        "event_id": e.event_id,
        "source": e.source,
        "event_type": e.event_type,
        "team_id": e.team_id,
        "status": e.status,
        "action": e.action,
        "http_status": e.http_status,
        "recharge_id": e.recharge_id,
        "payload": e.payload,
        "response": e.response,
        "received_at": e.received_at,
        "answered_at": e.answered_at,
    })
}

/// A pass of the safety-net poller.
pub fn poller_run(run: &PollerRun) -> Value {
    json!({
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "organizations": run.organizations,
        "usage_read": run.usage_read,
        "recharges": run.recharges,
        "unreachable": run.unreachable,
        "failed": run.failed,
    })
}

/// One member.
pub fn member(m: &MemberRow) -> Value {
    json!({
        "user_id": m.user_id,
        "role": m.role,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    })
}

/// One audit entry.
pub fn audit_entry(a: &AuditRow) -> Value {
    json!({
        "id": a.id,
        "actor": a.actor,
        "action": a.action,
        "changes": a.changes,
        "created_at": a.created_at,
    })
}

/// An organisation's month.
pub fn month_usage(c_org: &str, u: &MonthUsage) -> Value {
    json!({
        "success": true,
        "c_organization_id": c_org,
        "month": u.month.label(),
        "from": u.month.start,
        "to": u.month.end,
        "usage": u.usage,
        "usage_read_at": u.usage_read_at,
        "recharges": u.recharges.iter().map(recharge).collect::<Vec<_>>(),
        "recharged_total": u.recharged_total,
        "credited_total": u.credited_total,
        "balance": u.balance,
    })
}

/// A page of items.
pub fn page(items: Vec<Value>, total: i64, page: i64, page_size: i64) -> Value {
    json!({ "success": true, "items": items, "total": total, "page": page, "page_size": page_size })
}
