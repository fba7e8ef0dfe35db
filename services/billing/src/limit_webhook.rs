//! `limit_exceeded` events from the KMS/LiteLLM: verify the HMAC signature, parse, and hand
//! the event to the [`EventDesk`], which claims it once, decides under the organisation's
//! lock, runs the recharge, and gives every replay the first answer.

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_domain::money::Cents;
use tollgate_domain::signature::verify_sha256;
use tollgate_web::ApiError;

use crate::answers::Answer;
use crate::event_desk::{EventDesk, Incoming};
use crate::recharge::Trigger;
use crate::store::events::EventSource;

/// Longest accepted `x-webhook-id`.
const MAX_EVENT_ID: usize = 200;

/// The limit event body (docs/contracts.md#limit-webhook).
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
    desk: Arc<EventDesk>,
    secret: SecretString,
}

impl LimitWebhooks {
    /// Wire the handler.
    pub fn new(desk: Arc<EventDesk>, secret: SecretString) -> Self {
        Self { desk, secret }
    }

    /// One delivery: signature → parse → the event desk (replay or claim → decide and
    /// recharge → answer).
    pub async fn handle(
        &self,
        body: &[u8],
        signature: Option<&str>,
        webhook_id: Option<&str>,
    ) -> Result<Answer, ApiError> {
        verify(self.secret.expose_secret(), signature, body)?;
        let event = parse(body)?;
        let body_sha256 = hex::encode(Sha256::digest(body));
        let event_id = event_id(webhook_id, &body_sha256)?;
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.desk
            .deliver(Incoming {
                source: EventSource::Litellm,
                event_id: event_id.clone(),
                event_type: "limit_exceeded".into(),
                team_id: event.team_id,
                usage: event.current_usage,
                body_sha256,
                payload,
                trigger: Trigger::Webhook { event_id },
            })
            .await
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
