//! `limit_exceeded` events from the KMS/LiteLLM: verify, claim exactly once, decide under
//! the organisation's lock, run the recharge, and answer — the same answer to every replay.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_db::DbError;
use tollgate_domain::money::Cents;
use tollgate_domain::recharge::{decide, AutoDecision, OrgSnapshot, RechargeSettings};
use tollgate_domain::signature::verify_sha256;
use tollgate_web::ApiError;

use crate::metrics::Metrics;
use crate::recharge::{Finished, PipelineError, Recharger, Trigger};
use crate::store::events::{self, EventRow, NewEvent};
use crate::store::orgs::{self, OrgRow};
use crate::store::recharges::{self, RechargeRow};
use crate::views;

/// `webhook_events.source` of these events.
pub const SOURCE: &str = "litellm";
/// How long a claimant holds an event before another process may take it over.
const LEASE_SECS: i32 = 30;
/// How often a concurrent copy looks for the first copy's answer.
const POLL: Duration = Duration::from_millis(20);
/// Longest accepted `x-webhook-id`.
const MAX_EVENT_ID: usize = 200;

/// An answer to a webhook delivery: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
}

/// The limit event body (DESIGN.md §3).
// Unknown fields are ignored: LiteLLM may add some.
#[derive(Debug, Clone, Deserialize)]
struct LimitEventBody {
    event_type: String,
    team_id: String,
    current_usage: serde_json::Number,
    current_limit: serde_json::Number,
    exceeded_by: serde_json::Number,
    timestamp: String,
    #[serde(default)]
    organization_id: Option<String>,
}

/// A parsed limit event.
#[derive(Debug, Clone)]
pub struct LimitEvent {
    /// The LiteLLM team.
    pub team_id: String,
    /// Spend so far, rounded up to the cent.
    pub current_usage: Cents,
}

/// Parse a body: 400 for anything but a well-formed `limit_exceeded` event.
pub fn parse(body: &[u8]) -> Result<LimitEvent, ApiError> {
    let raw: LimitEventBody = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::bad_request("invalid_body", e.to_string())
        } else {
            ApiError::bad_request("invalid_json", format!("malformed JSON: {e}"))
        }
    })?;
    if raw.event_type != "limit_exceeded" {
        return Err(ApiError::bad_request(
            "invalid_event_type",
            "event_type must be limit_exceeded",
        ));
    }
    let team_id = raw.team_id.trim();
    if team_id.is_empty() || team_id.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_team_id",
            "team_id must be 1-255 characters",
        ));
    }
    let dollars = |name: &'static str, n: &serde_json::Number| {
        Cents::parse_dollars_rounding_up(&n.to_string()).map_err(|_| {
            ApiError::bad_request(
                "invalid_body",
                format!("{name} must be a plain dollar number"),
            )
        })
    };
    let current_usage = dollars("current_usage", &raw.current_usage)?;
    dollars("current_limit", &raw.current_limit)?;
    dollars("exceeded_by", &raw.exceeded_by)?;
    if current_usage.0 < 0 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "current_usage must not be negative",
        ));
    }
    if raw.timestamp.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "timestamp is required",
        ));
    }
    let _ = raw.organization_id;
    Ok(LimitEvent {
        team_id: team_id.to_owned(),
        current_usage,
    })
}

/// The event id: `x-webhook-id` when given (printable ASCII, ≤ 200), else the body's hash.
pub fn event_id(header: Option<&str>, body_sha256: &str) -> Result<String, ApiError> {
    match header {
        Some(id) => {
            let id = id.trim();
            if id.is_empty() || id.len() > MAX_EVENT_ID || !id.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(ApiError::bad_request(
                    "invalid_webhook_id",
                    "x-webhook-id must be 1-200 printable ASCII characters",
                ));
            }
            Ok(id.to_owned())
        }
        None => Ok(format!("sha256:{body_sha256}")),
    }
}

/// Verify `x-webhook-signature: sha256=<hex>` over the raw body, in constant time.
pub fn verify(secret: &str, signature: Option<&str>, body: &[u8]) -> Result<(), ApiError> {
    let Some(signature) = signature else {
        return Err(ApiError::Unauthorized("missing x-webhook-signature".into()));
    };
    if verify_sha256(secret.as_bytes(), body, signature) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid webhook signature".into()))
    }
}

/// Handles limit events.
pub struct LimitWebhooks {
    recharger: Arc<Recharger>,
    metrics: Metrics,
    secret: String,
    answer_within: Duration,
    answered: moka::future::Cache<String, Arc<Answer>>,
}

impl LimitWebhooks {
    /// Wire the handler.
    pub fn new(
        recharger: Arc<Recharger>,
        secret: String,
        answer_within: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            recharger,
            metrics,
            secret,
            answer_within,
            answered: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
        }
    }

    /// One delivery: signature → parse → replay or claim → decide and recharge → answer.
    pub async fn handle(
        self: &Arc<Self>,
        body: &[u8],
        signature: Option<&str>,
        webhook_id: Option<&str>,
    ) -> Result<Answer, ApiError> {
        verify(&self.secret, signature, body)?;
        let event = parse(body)?;
        let body_sha256 = hex::encode(Sha256::digest(body));
        let event_id = event_id(webhook_id, &body_sha256)?;
        if let Some(answer) = self.answered.get(&event_id).await {
            return Ok((*answer).clone());
        }
        let mut conn = self.recharger.pool().get().await.map_err(DbError::from)?;
        let row = match events::find(&mut conn, SOURCE, &event_id)
            .await
            .map_err(DbError::from)?
        {
            Some(row) => row,
            None => {
                let Some(org) = orgs::find_by_team(&mut conn, &event.team_id)
                    .await
                    .map_err(DbError::from)?
                else {
                    return Err(ApiError::NotFound(format!(
                        "no organisation for team_id {}",
                        event.team_id
                    )));
                };
                let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let new = NewEvent {
                    source: SOURCE.into(),
                    event_id: event_id.clone(),
                    event_type: "limit_exceeded".into(),
                    team_id: Some(event.team_id.clone()),
                    organization_id: Some(org.id),
                    body_sha256,
                    payload,
                };
                match events::claim_new(&mut conn, &new, LEASE_SECS)
                    .await
                    .map_err(DbError::from)?
                {
                    Some(row) => {
                        drop(conn);
                        return self.process(row, event).await;
                    }
                    None => events::find(&mut conn, SOURCE, &event_id)
                        .await
                        .map_err(DbError::from)?
                        .ok_or_else(|| ApiError::Unavailable("webhook event vanished".into()))?,
                }
            }
        };
        drop(conn);
        self.follow(row, event).await
    }

    /// A copy of an event already received: replay its answer, wait for it, or take the
    /// event over when its claimant is gone.
    async fn follow(
        self: &Arc<Self>,
        row: EventRow,
        event: LimitEvent,
    ) -> Result<Answer, ApiError> {
        let deadline = tokio::time::Instant::now() + self.answer_within;
        let mut row = row;
        loop {
            if let Some(answer) = stored_answer(&row) {
                self.answered
                    .insert(row.event_id.clone(), Arc::new(answer.clone()))
                    .await;
                return Ok(answer);
            }
            let mut conn = self.recharger.pool().get().await.map_err(DbError::from)?;
            if row.claimed_until < chrono::Utc::now()
                && events::take_over(&mut conn, row.id, LEASE_SECS)
                    .await
                    .map_err(DbError::from)?
            {
                drop(conn);
                return self.process(row, event).await;
            }
            drop(conn);
            if tokio::time::Instant::now() >= deadline {
                return Ok(processing(&row.event_id));
            }
            tokio::time::sleep(POLL).await;
            let mut conn = self.recharger.pool().get().await.map_err(DbError::from)?;
            row = events::find(&mut conn, SOURCE, &row.event_id)
                .await
                .map_err(DbError::from)?
                .ok_or_else(|| ApiError::Unavailable("webhook event vanished".into()))?;
        }
    }

    /// This caller holds the event: run it on its own task (a dropped connection must not
    /// cut a charge in half) and answer when done, or "processing" at the deadline.
    async fn process(
        self: &Arc<Self>,
        row: EventRow,
        event: LimitEvent,
    ) -> Result<Answer, ApiError> {
        let this = Arc::clone(self);
        let event_id = row.event_id.clone();
        let task = tokio::spawn(async move { this.run(row, event).await });
        match tokio::time::timeout(self.answer_within, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ApiError::Internal(anyhow::anyhow!(
                "webhook task failed: {join}"
            ))),
            Err(_) => Ok(processing(&event_id)),
        }
    }

    async fn run(&self, row: EventRow, event: LimitEvent) -> Result<Answer, ApiError> {
        let outcome = self.decide_and_recharge(&row, &event).await;
        let mut conn = self.recharger.pool().get().await.map_err(DbError::from)?;
        match outcome {
            Ok(Some((action, answer))) => {
                events::answer(
                    &mut conn,
                    row.id,
                    action,
                    answer.status.as_u16(),
                    &answer.body,
                )
                .await
                .map_err(DbError::from)?;
                self.answered
                    .insert(row.event_id.clone(), Arc::new(answer.clone()))
                    .await;
                self.metrics.webhooks.with_label_values(&[action]).inc();
                Ok(answer)
            }
            Ok(None) => {
                events::release(&mut conn, row.id)
                    .await
                    .map_err(DbError::from)?;
                Ok(processing(&row.event_id))
            }
            Err(e) => {
                // Not answered: a redelivery tries again (and finds any recharge it started).
                let _ = events::release(&mut conn, row.id).await;
                Err(e)
            }
        }
    }

    /// The answer and its action, or `None` when a recharge it started is still unresolved.
    async fn decide_and_recharge(
        &self,
        row: &EventRow,
        event: &LimitEvent,
    ) -> Result<Option<(&'static str, Answer)>, ApiError> {
        let org_id = row
            .organization_id
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("event without organisation")))?;
        let mut conn = self.recharger.pool().get().await.map_err(DbError::from)?;
        // A takeover of an event that already started a recharge answers from that recharge.
        if let Some(recharge) = row.recharge_id {
            let record = recharges::find(&mut conn, recharge)
                .await
                .map_err(DbError::from)?;
            return Ok(match record {
                Some(record) if record.is_final() => {
                    Some(answer_for_record(&row.event_id, &record, None))
                }
                _ => None,
            });
        }
        let recharger = Arc::clone(&self.recharger);
        let usage = event.current_usage;
        let event_id = row.event_id.clone();
        let event_row = row.id;
        let (org, decision, record) = conn
            .transaction(async move |conn| {
                let org = orgs::lock_id(conn, org_id).await?;
                let snapshot = OrgSnapshot {
                    auto_recharge_enabled: org.auto_recharge_enabled,
                    has_payment_method: org.default_payment_method_id.is_some()
                        && org.stripe_customer_id.is_some(),
                    automatic_recharges_today: u32::try_from(
                        recharges::automatic_today(conn, org.id).await?,
                    )
                    .unwrap_or(u32::MAX),
                    max_daily_recharges: u32::try_from(org.max_daily_recharges).unwrap_or(0),
                    credited: recharges::credited_total(conn, org.id).await?,
                    in_flight: recharges::in_flight_total(conn, org.id).await?,
                    usage,
                    settings: settings_of(&org),
                };
                let decision = decide(&snapshot, recharger.fees());
                let record = match decision {
                    AutoDecision::Recharge(quote) => {
                        let record = recharger
                            .record(conn, &org, quote.amount, &Trigger::Webhook { event_id })
                            .await?;
                        events::link_recharge(conn, event_row, record.id).await?;
                        Some(record)
                    }
                    _ => None,
                };
                Ok::<_, diesel::result::Error>((org, decision, record))
            })
            .await
            .map_err(DbError::from)?;
        drop(conn);
        let Some(record) = record else {
            let body = json!({
                "success": true,
                "action": decision.action(),
                "event_id": row.event_id,
                "organization_id": org.c_organization_id,
            });
            return Ok(Some((
                decision.action(),
                Answer {
                    status: StatusCode::OK,
                    body,
                },
            )));
        };
        match self.recharger.charge_and_deliver(record, &org).await {
            Ok(Finished { record, quota }) => {
                Ok(Some(answer_for_record(&row.event_id, &record, quota)))
            }
            Err(PipelineError::PaymentUnknown(why)) => {
                tracing::warn!(event = %row.event_id, error = %why, "recharge unresolved");
                Ok(None)
            }
            Err(PipelineError::Db(e)) => Err(e.into()),
        }
    }
}

/// The organisation's recharge settings as domain values.
pub fn settings_of(org: &OrgRow) -> RechargeSettings {
    RechargeSettings {
        minimum_balance: Cents(org.minimum_balance_cents),
        target_balance: Cents(org.target_balance_cents),
        minimum_recharge_amount: Cents(org.minimum_recharge_amount_cents),
    }
}

/// The answer for a recharge that reached a final status.
pub fn answer_for_record(
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
    match record.status.as_str() {
        recharges::SUCCEEDED => ok("auto_recharged"),
        recharges::REQUIRES_ACTION => ok("requires_action"),
        recharges::REFUNDED => (
            "refunded",
            Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: json!({
                    "success": false,
                    "action": "refunded",
                    "event_id": event_id,
                    "error": {
                        "code": "quota_not_delivered",
                        "message": "the KMS did not accept the new quota; the charge was refunded",
                    },
                    "recharge": recharge,
                }),
            },
        ),
        _ => ok("payment_failed"),
    }
}

/// The stored first answer of an answered event.
fn stored_answer(row: &EventRow) -> Option<Answer> {
    if row.status != events::ANSWERED {
        return None;
    }
    let status = StatusCode::from_u16(u16::try_from(row.http_status?).ok()?).ok()?;
    Some(Answer {
        status,
        body: row.response.clone()?,
    })
}

/// 202 while the first copy of an event is still being worked on.
fn processing(event_id: &str) -> Answer {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_body() {
        let e = parse(br#"{"event_type":"limit_exceeded","team_id":"team_1","current_usage":520.123,"current_limit":500,"exceeded_by":20.123,"timestamp":"2025-07-17T10:00:00Z"}"#).unwrap();
        assert_eq!(e.team_id, "team_1");
        assert_eq!(e.current_usage, Cents(52_013));
    }

    #[test]
    fn refuses_malformed_bodies() {
        for (body, code) in [
            (&b"{"[..], "invalid_json"),
            (br#"{"event_type":"limit_exceeded"}"#, "invalid_body"),
            (br#"{"event_type":"other","team_id":"t","current_usage":1,"current_limit":1,"exceeded_by":0,"timestamp":"x"}"#, "invalid_event_type"),
            (br#"{"event_type":"limit_exceeded","team_id":"","current_usage":1,"current_limit":1,"exceeded_by":0,"timestamp":"x"}"#, "invalid_team_id"),
            (br#"{"event_type":"limit_exceeded","team_id":"t","current_usage":"1","current_limit":1,"exceeded_by":0,"timestamp":"x"}"#, "invalid_body"),
            (br#"{"event_type":"limit_exceeded","team_id":"t","current_usage":-1,"current_limit":1,"exceeded_by":0,"timestamp":"x"}"#, "invalid_body"),
            (br#"[]"#, "invalid_body"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code(), code, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn event_ids() {
        assert_eq!(event_id(Some(" abc "), "h").unwrap(), "abc");
        assert_eq!(event_id(None, "h").unwrap(), "sha256:h");
        assert!(event_id(Some("a b"), "h").is_err());
        assert!(event_id(Some(&"x".repeat(201)), "h").is_err());
    }

    #[test]
    fn signatures() {
        let body = b"{}";
        let good = tollgate_domain::signature::sign_sha256(b"s", body);
        assert!(verify("s", Some(&good), body).is_ok());
        assert!(verify("s", Some(&good), b"{ }").is_err());
        assert!(verify("t", Some(&good), body).is_err());
        assert!(verify("s", None, body).is_err());
        assert!(verify("s", Some("sha256=zz"), body).is_err());
    }
}
