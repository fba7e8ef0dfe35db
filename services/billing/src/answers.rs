//! The answers given to events that may start an automatic recharge (limit webhooks,
//! LiteLLM alerts): built once, stored with the event, and replayed to its copies. Reconcile
//! stores the answer of an event whose recharge it finished, from here too.

use actix_web::http::StatusCode;
use tollgate_domain::money::Cents;
use tollgate_domain::recharge::AutoDecision;
use tollgate_web::error::ErrorDetail;
use tollgate_web::ApiError;

use crate::store::events::{EventRow, EventStatus};
use crate::store::recharges::{RechargeRow, RechargeStatus};
use crate::views::{self, EventAction, EventAnswer};

/// An answer to an event delivery: HTTP status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: EventAnswer,
}

impl Answer {
    /// The body's `action` as stored and counted (`ignored` for an ignored alert).
    pub fn action(&self) -> &'static str {
        self.body.action.map_or("ignored", EventAction::as_str)
    }
}

/// The answer for a decision that charged nothing (`none`, `not_needed`, …).
pub fn for_decision(event_id: &str, c_org: &str, decision: &AutoDecision) -> Answer {
    Answer {
        status: StatusCode::OK,
        body: EventAnswer {
            success: true,
            action: Some(EventAction::of(decision)),
            event_id: Some(event_id.to_owned()),
            organization_id: Some(c_org.to_owned()),
            ..EventAnswer::default()
        },
    }
}

/// The answer for a recharge that reached a final status (`quota`: what the backend
/// confirmed, when delivered by this call).
pub fn for_record(event_id: &str, record: &RechargeRow, quota: Option<Cents>) -> Answer {
    let body = |action| EventAnswer {
        success: true,
        action: Some(action),
        event_id: Some(event_id.to_owned()),
        organization_id: Some(record.c_organization_id.clone()),
        recharge: Some(views::recharge(record)),
        ..EventAnswer::default()
    };
    let ok = |action| Answer {
        status: StatusCode::OK,
        body: body(action),
    };
    match record.status() {
        RechargeStatus::Succeeded => {
            let mut answer = ok(EventAction::AutoRecharged);
            if quota.is_some() {
                answer.body.quota = quota;
                answer.body.recharged_amount = Some(Cents(record.amount_cents));
            }
            answer
        }
        RechargeStatus::RequiresAction => ok(EventAction::RequiresAction),
        RechargeStatus::Refunded => Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: EventAnswer {
                success: false,
                organization_id: None,
                error: Some(ErrorDetail {
                    code: "quota_not_delivered".into(),
                    message:
                        "the quota backend did not accept the new quota; the charge was refunded"
                            .into(),
                }),
                ..body(EventAction::Refunded)
            },
        },
        RechargeStatus::PaymentFailed
        | RechargeStatus::Canceled
        | RechargeStatus::Pending
        | RechargeStatus::Charged => ok(EventAction::PaymentFailed),
    }
}

/// The stored first answer of an answered event; a stored body that is not an answer is a
/// 500 (never a reason to handle the event again).
pub fn stored(row: &EventRow) -> Result<Option<Answer>, ApiError> {
    if row.status != EventStatus::Answered {
        return Ok(None);
    }
    let (Some(status), Some(body)) = (row.http_status, row.response.clone()) else {
        return Ok(None);
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored status {status}")))?;
    let body = serde_json::from_value(body)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored answer: {e}")))?;
    Ok(Some(Answer { status, body }))
}

/// 202 while the first copy of an event is still being worked on.
pub fn processing(event_id: &str) -> Answer {
    Answer {
        status: StatusCode::ACCEPTED,
        body: EventAnswer {
            success: true,
            action: Some(EventAction::Processing),
            event_id: Some(event_id.to_owned()),
            message: Some(
                "this event is still being processed; deliver it again for the final answer".into(),
            ),
            ..EventAnswer::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_stored_under_its_json_name() {
        use EventAction::*;
        for a in [
            AutoRecharged,
            RequiresAction,
            PaymentFailed,
            Refunded,
            Processing,
            None,
            Paused,
            NotNeeded,
            NoPaymentMethod,
            DailyLimitReached,
            MonthlyLimitReached,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }

    #[test]
    fn an_ignored_alert_reads_as_before() {
        let body = EventAnswer {
            success: true,
            ignored: true,
            event: Some("spend_tracked".into()),
            event_group: Some("team".into()),
            ..EventAnswer::default()
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"success": true, "ignored": true, "event": "spend_tracked", "event_group": "team"})
        );
        let processing = serde_json::to_value(processing("e1").body).unwrap();
        assert_eq!(processing["action"], "processing");
        assert!(processing.get("ignored").is_none());
    }
}
