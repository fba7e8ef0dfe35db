//! What can go wrong talking to Stripe, and how async-stripe's errors map onto it.

use crate::types::ChargeOutcome;
use crate::wire::AUTHENTICATION_REQUIRED;

/// A failed Stripe call.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// 5xx, 409 (concurrent use of an idempotency key), 429, timeout, connection failure,
    /// unreadable answer: the outcome of a write is UNKNOWN; retry with the same idempotency
    /// key or look the object up.
    #[error("stripe unavailable: {0}")]
    Unavailable(String),
    /// 402 / card errors outside `charge()` (e.g. attaching a declined card).
    #[error("card error {code}: {message}")]
    Card {
        /// Stripe's error code (`card_declined`, …).
        code: String,
        /// Human-readable reason.
        message: String,
    },
    /// Other 4xx: our request was wrong or the object does not exist. `status` is 0 when the
    /// request was refused here before being sent (bad configuration or idempotency key).
    #[error("stripe rejected the request ({status}, {code:?}): {message}")]
    Rejected {
        /// HTTP status, or 0 when refused locally.
        status: u16,
        /// Stripe's error code, if given.
        code: Option<String>,
        /// Human-readable reason.
        message: String,
    },
}

/// The fields of a Stripe error answer that we use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub type_: String,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: String,
    pub payment_intent_id: Option<String>,
}

impl ApiError {
    fn is_card_error(&self) -> bool {
        self.status == 402 || self.type_ == "card_error"
    }

    fn is_unavailable(&self) -> bool {
        matches!(self.status, 409 | 429) || self.status >= 500
    }
}

/// async-stripe's error, split into "Stripe answered with an error" and everything else.
pub(crate) enum Failure {
    Api(ApiError),
    Other(StripeError),
}

impl From<stripe::StripeError> for Failure {
    fn from(err: stripe::StripeError) -> Self {
        match err {
            stripe::StripeError::Stripe(errors, status) => Failure::Api(ApiError {
                status,
                type_: errors.type_.as_str().to_owned(),
                code: errors.code.as_ref().map(|c| c.as_str().to_owned()),
                decline_code: errors.decline_code.clone(),
                message: errors
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("HTTP {status}")),
                payment_intent_id: errors.payment_intent.as_ref().map(|pi| pi.id.to_string()),
            }),
            stripe::StripeError::Timeout => {
                Failure::Other(StripeError::Unavailable("timed out".into()))
            }
            stripe::StripeError::ClientError(msg) => {
                Failure::Other(StripeError::Unavailable(format!("transport: {msg}")))
            }
            // Either a 2xx whose body is not JSON, or an error status whose body is not a
            // Stripe error: either way we cannot tell what happened.
            stripe::StripeError::JSONDeserialize(msg) => Failure::Other(StripeError::Unavailable(
                format!("unreadable answer: {msg}"),
            )),
            stripe::StripeError::ConfigError(msg) => Failure::Other(StripeError::Rejected {
                status: 0,
                code: None,
                message: format!("configuration: {msg}"),
            }),
        }
    }
}

impl Failure {
    /// The error for any call but `charge()`.
    pub(crate) fn into_error(self) -> StripeError {
        match self {
            Failure::Other(err) => err,
            Failure::Api(api) => api.into_error(),
        }
    }

    /// The outcome (or error) of `charge()`: card errors are outcomes.
    pub(crate) fn into_charge_result(self) -> Result<ChargeOutcome, StripeError> {
        match self {
            Failure::Other(err) => Err(err),
            Failure::Api(api) => api.into_charge_result(),
        }
    }
}

impl ApiError {
    pub(crate) fn into_error(self) -> StripeError {
        if self.is_unavailable() {
            StripeError::Unavailable(format!("HTTP {}: {}", self.status, self.message))
        } else if self.is_card_error() {
            StripeError::Card {
                code: self
                    .code
                    .or(self.decline_code)
                    .unwrap_or_else(|| "card_error".into()),
                message: self.message,
            }
        } else {
            StripeError::Rejected {
                status: self.status,
                code: self.code,
                message: self.message,
            }
        }
    }

    pub(crate) fn into_charge_result(self) -> Result<ChargeOutcome, StripeError> {
        if self.is_unavailable() || !self.is_card_error() {
            return Err(self.into_error());
        }
        let needs_auth = self.code.as_deref() == Some(AUTHENTICATION_REQUIRED)
            || self.decline_code.as_deref() == Some(AUTHENTICATION_REQUIRED);
        Ok(if needs_auth {
            ChargeOutcome::RequiresAction {
                payment_intent_id: self.payment_intent_id,
                message: self.message,
                next_action: None,
            }
        } else {
            ChargeOutcome::Declined {
                code: self
                    .code
                    .or_else(|| self.decline_code.clone())
                    .unwrap_or_else(|| "card_error".into()),
                decline_code: self.decline_code,
                message: self.message,
                payment_intent_id: self.payment_intent_id,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, type_: &str, code: Option<&str>, decline: Option<&str>) -> ApiError {
        ApiError {
            status,
            type_: type_.into(),
            code: code.map(Into::into),
            decline_code: decline.map(Into::into),
            message: "msg".into(),
            payment_intent_id: Some("pi_1".into()),
        }
    }

    #[test]
    fn localstripe_decline_is_declined() {
        let outcome = api(402, "invalid_request_error", Some("card_declined"), None)
            .into_charge_result()
            .unwrap();
        assert_eq!(
            outcome,
            ChargeOutcome::Declined {
                code: "card_declined".into(),
                decline_code: None,
                message: "msg".into(),
                payment_intent_id: Some("pi_1".into()),
            }
        );
    }

    #[test]
    fn authentication_required_by_code_or_decline_code() {
        for (code, decline) in [
            (Some("authentication_required"), None),
            (Some("card_declined"), Some("authentication_required")),
        ] {
            let outcome = api(402, "card_error", code, decline)
                .into_charge_result()
                .unwrap();
            assert_eq!(
                outcome,
                ChargeOutcome::RequiresAction {
                    payment_intent_id: Some("pi_1".into()),
                    message: "msg".into(),
                    next_action: None,
                }
            );
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(
            api(500, "api_error", None, None).into_charge_result(),
            Err(StripeError::Unavailable(_))
        ));
        assert!(matches!(
            api(429, "invalid_request_error", Some("rate_limit"), None).into_error(),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            api(409, "idempotency_error", None, None).into_error(),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            api(400, "invalid_request_error", Some("parameter_unknown"), None).into_charge_result(),
            Err(StripeError::Rejected { status: 400, code: Some(c), .. }) if c == "parameter_unknown"
        ));
        assert!(matches!(
            api(402, "card_error", Some("expired_card"), None).into_error(),
            StripeError::Card { code, .. } if code == "expired_card"
        ));
        assert!(matches!(
            api(404, "invalid_request_error", None, None).into_error(),
            StripeError::Rejected {
                status: 404,
                code: None,
                ..
            }
        ));
    }
}
