//! The answers given to events that may start an automatic recharge (limit webhooks,
//! LiteLLM alerts): built once, stored with the event, and replayed to its copies. Reconcile
//! stores the answer of an event whose recharge it finished, from here too.

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use tollgate_domain::money::Cents;
use tollgate_domain::recharge::AutoDecision;

use crate::store::events::{EventRow, EventStatus};
use crate::store::recharges::{RechargeRow, RechargeStatus};
use crate::views;

/// An answer to an event delivery: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
}

/// The answer for a decision that charged nothing (`none`, `not_needed`, …).
pub fn for_decision(
    event_id: &str,
    c_org: &str,
    decision: &AutoDecision,
) -> (&'static str, Answer) {
    let action = decision.action();
    let body = json!({
        "success": true,
        "action": action,
        "event_id": event_id,
        "organization_id": c_org,
    });
    (
        action,
        Answer {
            status: StatusCode::OK,
            body,
        },
    )
}

/// The answer for a recharge that reached a final status (`quota`: what the backend
/// confirmed, when delivered by this call).
pub fn for_record(
    event_id: &str,
    record: &RechargeRow,
    quota: Option<Cents>,
) -> (&'static str, Answer) {
    let recharge = views::recharge(record);
    let ok = |action: &'static str| {
        let mut body = json!({
            "success": true,
            "action": action,
            "event_id": event_id,
            "organization_id": record.c_organization_id,
            "recharge": recharge,
        });
        if let Some(quota) = quota {
            body["quota"] = json!(quota);
            body["recharged_amount"] = json!(Cents(record.amount_cents));
        }
        (
            action,
            Answer {
                status: StatusCode::OK,
                body,
            },
        )
    };
    match record.status() {
        RechargeStatus::Succeeded => ok("auto_recharged"),
        RechargeStatus::RequiresAction => ok("requires_action"),
        RechargeStatus::Refunded => (
            "refunded",
            Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: json!({
                    "success": false,
                    "action": "refunded",
                    "event_id": event_id,
                    "error": {
                        "code": "quota_not_delivered",
                        "message": "the quota backend did not accept the new quota; the charge was refunded",
                    },
                    "recharge": recharge,
                }),
            },
        ),
        RechargeStatus::PaymentFailed
        | RechargeStatus::Canceled
        | RechargeStatus::Pending
        | RechargeStatus::Charged => ok("payment_failed"),
    }
}

/// The stored first answer of an answered event.
pub fn stored(row: &EventRow) -> Option<Answer> {
    if row.status != EventStatus::Answered {
        return None;
    }
    let status = StatusCode::from_u16(u16::try_from(row.http_status?).ok()?).ok()?;
    Some(Answer {
        status,
        body: row.response.clone()?,
    })
}

/// 202 while the first copy of an event is still being worked on.
pub fn processing(event_id: &str) -> Answer {
    Answer {
        status: StatusCode::ACCEPTED,
        body: json!({
            "success": true,
            "action": "processing",
            "event_id": event_id,
            "message": "this event is still being processed; deliver it again for the final answer",
        }),
    }
}
