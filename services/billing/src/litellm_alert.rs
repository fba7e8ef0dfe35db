//! `POST /webhooks/litellm/budget?token=…`: a stock LiteLLM proxy's own budget alerts
//! (`alerting: ["webhook"]`, `WEBHOOK_URL`; docs/contracts.md#litellm-proxy). LiteLLM can
//! neither sign nor add headers, so the token in the URL (`LITELLM_ALERT_TOKEN`, compared in
//! constant time, never logged: request logs carry the path only) is the authentication.
//!
//! A team's `budget_crossed`, `max_budget_alert` or `threshold_crossed` goes to the same
//! exactly-once automatic recharge as a signed limit webhook (`triggered_by`
//! `litellm_alert`). Alerts carry no id, and LiteLLM sends the same body again after its
//! 24-hour silence for a new need, so an identical body is a replay only within the replay
//! window (`LITELLM_ALERT_REPLAY_SECS`, default 300); past that it is a new event, decided
//! afresh by the balance under the organisation's lock.

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_domain::money::Cents;
use tollgate_domain::signature::secrets_equal;
use tollgate_web::ApiError;

use crate::answers::Answer;
use crate::event_desk::{EventDesk, Incoming};
use crate::litellm::spend_to_cents;
use crate::recharge::Trigger;
use crate::store::events::EventSource;
use crate::views::EventAnswer;

/// The team events that mean "the budget is (nearly) spent".
const TEAM_EVENTS: [&str; 3] = ["budget_crossed", "max_budget_alert", "threshold_crossed"];
/// Longest team id taken.
const MAX_TEAM_ID: usize = 255;

/// The fields of LiteLLM's `WebhookEvent` billing reads; the others are ignored.
#[derive(Debug, Deserialize)]
struct WebhookEvent {
    spend: f64,
    #[serde(default)]
    team_id: Option<String>,
    event: String,
    event_group: String,
}

/// A parsed alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    /// Not a team budget event (`spend_tracked`, a key's or a user's budget, …).
    Ignored {
        /// Its `event`.
        event: String,
        /// Its `event_group`.
        event_group: String,
    },
    /// A team's budget is spent, or nearly.
    TeamBudget {
        /// The team.
        team_id: String,
        /// Its `event`.
        event: String,
        /// Spend when LiteLLM raised it, rounded up to the cent.
        spend: Cents,
    },
}

/// Parse a `WebhookEvent` body: 400 when it is not JSON, lacks `spend`, `event` or
/// `event_group`, has a negative or non-finite spend, or is a team budget event without a
/// team.
pub fn parse(body: &[u8]) -> Result<Alert, ApiError> {
    let raw: WebhookEvent = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::bad_request("invalid_body", e.to_string())
        } else {
            ApiError::bad_request("invalid_json", format!("malformed JSON: {e}"))
        }
    })?;
    let spend = spend_to_cents(raw.spend).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_body",
            "spend must be a finite, non-negative dollar amount",
        )
    })?;
    if raw.event_group != "team" || !TEAM_EVENTS.contains(&raw.event.as_str()) {
        return Ok(Alert::Ignored {
            event: raw.event,
            event_group: raw.event_group,
        });
    }
    let team_id = raw.team_id.as_deref().map(str::trim).unwrap_or_default();
    if team_id.is_empty() || team_id.len() > MAX_TEAM_ID {
        return Err(ApiError::bad_request(
            "invalid_team_id",
            "a team budget alert names its team_id (1-255 characters)",
        ));
    }
    Ok(Alert::TeamBudget {
        team_id: team_id.to_owned(),
        event: raw.event,
        spend,
    })
}

/// Check the URL's `token` against `LITELLM_ALERT_TOKEN` in constant time: 503 when no
/// token is configured (alerts are then refused, never trusted), 401 when missing or wrong.
pub fn check_token(expected: Option<&str>, given: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::Unavailable(
            "LITELLM_ALERT_TOKEN is not configured".into(),
        ));
    };
    match given {
        Some(given) if secrets_equal(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("invalid alert token".into())),
        None => Err(ApiError::Unauthorized("missing alert token".into())),
    }
}

/// The event id of a body received at `now_secs` (Unix seconds): its hash and the slot of
/// `window_secs` it falls in; and the id it had in the slot before.
pub fn slot_ids(body_sha256: &str, now_secs: i64, window_secs: i64) -> (String, String) {
    let slot = now_secs.div_euclid(window_secs.max(1));
    (
        format!("sha256:{body_sha256}:{slot}"),
        format!("sha256:{body_sha256}:{}", slot - 1),
    )
}

/// Handles LiteLLM budget alerts.
pub struct LitellmAlerts {
    desk: Arc<EventDesk>,
    token: Option<SecretString>,
    window_secs: i64,
}

impl LitellmAlerts {
    /// Without a token every alert is refused (503). `window`: how long an identical body
    /// is a replay.
    pub fn new(
        desk: Arc<EventDesk>,
        token: Option<SecretString>,
        window: std::time::Duration,
    ) -> Self {
        Self {
            desk,
            token,
            window_secs: i64::try_from(window.as_secs()).unwrap_or(i64::MAX).max(1),
        }
    }

    /// One delivery: token → parse → ignored, or the event desk.
    pub async fn handle(&self, body: &[u8], token: Option<&str>) -> Result<Answer, ApiError> {
        check_token(self.token.as_ref().map(|t| t.expose_secret()), token)?;
        let (team_id, event, spend) = match parse(body)? {
            Alert::Ignored { event, event_group } => return Ok(ignored(&event, &event_group)),
            Alert::TeamBudget {
                team_id,
                event,
                spend,
            } => (team_id, event, spend),
        };
        let body_sha256 = hex::encode(Sha256::digest(body));
        let now = chrono::Utc::now();
        let (current, previous) = slot_ids(&body_sha256, now.timestamp(), self.window_secs);
        // The same body in the previous slot is a replay while it is younger than the window.
        let event_id = match self.desk.find(EventSource::LitellmAlert, &previous).await? {
            Some(row) if (now - row.received_at).num_seconds() < self.window_secs => previous,
            _ => current,
        };
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.desk
            .deliver(Incoming {
                source: EventSource::LitellmAlert,
                event_id: event_id.clone(),
                event_type: event,
                team_id,
                usage: spend,
                body_sha256,
                payload,
                trigger: Trigger::LitellmAlert { event_id },
            })
            .await
    }
}

/// 200 `{"ignored": true}` for an alert that is not about a team's budget.
fn ignored(event: &str, event_group: &str) -> Answer {
    Answer {
        status: actix_web::http::StatusCode::OK,
        body: EventAnswer {
            success: true,
            ignored: true,
            event: Some(event.to_owned()),
            event_group: Some(event_group.to_owned()),
            ..EventAnswer::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CROSSED: &[u8] = br#"{"spend":12.5000001,"max_budget":10.0,"soft_budget":null,"token":"abc","customer_id":null,"user_id":null,"team_id":"team-1","team_alias":"acme","organization_id":null,"user_email":null,"key_alias":null,"projected_exceeded_date":null,"projected_spend":null,"event_group":"team","alert_emails":null,"event":"budget_crossed","event_message":"Team Budget: Budget Crossed\n Total Budget:`10.0`","extra":1}"#;

    #[test]
    fn a_team_budget_alert_is_read_and_unknown_fields_are_ignored() {
        assert_eq!(
            parse(CROSSED).unwrap(),
            Alert::TeamBudget {
                team_id: "team-1".into(),
                event: "budget_crossed".into(),
                spend: Cents(1251),
            }
        );
        for event in ["max_budget_alert", "threshold_crossed"] {
            let body = String::from_utf8_lossy(CROSSED).replace("budget_crossed", event);
            assert!(matches!(
                parse(body.as_bytes()).unwrap(),
                Alert::TeamBudget { .. }
            ));
        }
    }

    #[test]
    fn other_events_and_groups_are_ignored() {
        let text = String::from_utf8_lossy(CROSSED);
        for body in [
            text.replace("budget_crossed", "spend_tracked"),
            text.replace("budget_crossed", "soft_budget_crossed"),
            text.replace(r#""event_group":"team""#, r#""event_group":"key""#),
            text.replace(r#""team_id":"team-1""#, r#""team_id":null"#)
                .replace(r#""event_group":"team""#, r#""event_group":"user""#),
        ] {
            assert!(
                matches!(parse(body.as_bytes()).unwrap(), Alert::Ignored { .. }),
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_alerts_are_refused() {
        let text = String::from_utf8_lossy(CROSSED);
        for (body, code) in [
            ("{".to_owned(), "invalid_json"),
            ("[]".to_owned(), "invalid_body"),
            (
                r#"{"event":"budget_crossed","event_group":"team","team_id":"t"}"#.to_owned(),
                "invalid_body",
            ),
            (text.replace("12.5000001", "\"12\""), "invalid_body"),
            (text.replace("12.5000001", "-1"), "invalid_body"),
            (
                text.replace(r#""team_id":"team-1""#, r#""team_id":null"#),
                "invalid_team_id",
            ),
            (
                text.replace(r#""team_id":"team-1""#, r#""team_id":"  ""#),
                "invalid_team_id",
            ),
        ] {
            assert_eq!(parse(body.as_bytes()).unwrap_err().code(), code, "{body}");
        }
    }

    #[test]
    fn tokens() {
        assert!(check_token(Some("t0k"), Some("t0k")).is_ok());
        assert_eq!(
            check_token(Some("t0k"), Some("t0K")).unwrap_err().code(),
            "unauthorized"
        );
        assert_eq!(
            check_token(Some("t0k"), None).unwrap_err().code(),
            "unauthorized"
        );
        assert_eq!(
            check_token(None, Some("t0k")).unwrap_err().code(),
            "unavailable"
        );
    }

    #[test]
    fn slots() {
        let (a, prev) = slot_ids("h", 600, 300);
        assert_eq!(a, "sha256:h:2");
        assert_eq!(prev, "sha256:h:1");
        assert_eq!(slot_ids("h", 899, 300).0, a);
        assert_eq!(slot_ids("h", 900, 300).1, a);
    }
}
