//! The public values the gateway hands out.

use std::collections::BTreeMap;

/// A PaymentIntent's `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentIntentStatus {
    /// `succeeded`: the money was taken.
    Succeeded,
    /// `requires_action`: the customer must authenticate (3DS).
    RequiresAction,
    /// `requires_payment_method`: the last attempt failed (or no card yet).
    RequiresPaymentMethod,
    /// `requires_confirmation`: created but not confirmed.
    RequiresConfirmation,
    /// `requires_capture`: authorised, waiting for a capture.
    RequiresCapture,
    /// `processing`: the outcome is not known yet.
    Processing,
    /// `canceled`.
    Canceled,
    /// Any status this crate does not know, as Stripe spelled it.
    Other(String),
}

impl PaymentIntentStatus {
    /// Map Stripe's snake_case status string.
    pub fn from_stripe(status: &str) -> Self {
        match status {
            "succeeded" => Self::Succeeded,
            "requires_action" => Self::RequiresAction,
            "requires_payment_method" => Self::RequiresPaymentMethod,
            "requires_confirmation" => Self::RequiresConfirmation,
            "requires_capture" => Self::RequiresCapture,
            "processing" => Self::Processing,
            "canceled" => Self::Canceled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Stripe's snake_case spelling of the status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Succeeded => "succeeded",
            Self::RequiresAction => "requires_action",
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresCapture => "requires_capture",
            Self::Processing => "processing",
            Self::Canceled => "canceled",
            Self::Other(other) => other,
        }
    }
}

/// The parts of a Stripe PaymentIntent billing uses.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentIntent {
    /// `pi_…`.
    pub id: String,
    /// Where the payment stands.
    pub status: PaymentIntentStatus,
    /// Amount in the currency's smallest unit (cents).
    pub amount: i64,
    /// Lowercase ISO currency code.
    pub currency: String,
    /// `cus_…`, if the PaymentIntent belongs to a customer.
    pub customer: Option<String>,
    /// The PaymentIntent's metadata.
    pub metadata: BTreeMap<String, String>,
    /// Id of the latest charge, whether the API gave a string or an embedded object.
    pub latest_charge: Option<String>,
    /// Amount refunded so far: from an embedded `latest_charge` object or `charges.data` if
    /// present, else 0.
    pub amount_refunded: i64,
}

/// A payment method attached to a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedPaymentMethod {
    /// The `pm_…` id Stripe answered with (may differ from the one sent, see
    /// [`crate::PaymentGateway::attach_payment_method`]).
    pub id: String,
    /// Card brand (`visa`, …), if a card.
    pub brand: Option<String>,
    /// Last 4 digits, if a card.
    pub last4: Option<String>,
}

/// A refund as Stripe answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    /// `re_…`.
    pub id: String,
    /// `succeeded`, `pending`, `failed`, … when given.
    pub status: Option<String>,
    /// Amount refunded in cents.
    pub amount: i64,
}

/// One off-session charge of a saved card.
#[derive(Debug, Clone, Copy)]
pub struct ChargeRequest<'a> {
    /// `cus_…` the card belongs to.
    pub customer: &'a str,
    /// `pm_…` to charge.
    pub payment_method: &'a str,
    /// Amount in cents (> 0).
    pub amount_cents: i64,
    /// Lowercase ISO currency code, e.g. `usd`.
    pub currency: &'a str,
    /// Sent as `Idempotency-Key`; reuse it when retrying the same charge.
    pub idempotency_key: &'a str,
    /// Stored as the PaymentIntent's `metadata[key]`.
    pub metadata: &'a [(&'a str, &'a str)],
}

/// What a charge attempt ended in (when Stripe gave a definite answer).
#[derive(Debug, Clone, PartialEq)]
pub enum ChargeOutcome {
    /// The money was taken.
    Succeeded(PaymentIntent),
    /// 3DS/authentication needed: localstripe answers 200 with status `requires_action`; real
    /// Stripe answers 402 code `authentication_required` (with the PaymentIntent in the error,
    /// usually).
    RequiresAction {
        /// The PaymentIntent waiting for authentication, when known.
        payment_intent_id: Option<String>,
        /// Human-readable reason.
        message: String,
        /// Stripe's `next_action` when the answer carried one (localstripe's
        /// `use_stripe_sdk`; real Stripe's off-session 402 carries none: the holder confirms
        /// the PaymentIntent on-session).
        next_action: Option<serde_json::Value>,
    },
    /// `card_declined` and other card errors (localstripe: 402 type `invalid_request_error`
    /// code `card_declined`, no `decline_code`; real Stripe: 402 type `card_error`), or a
    /// PaymentIntent left in `requires_payment_method` / `canceled`.
    Declined {
        /// Stripe's error code, e.g. `card_declined`, `expired_card`.
        code: String,
        /// The issuer's reason (`insufficient_funds`, …), if given.
        decline_code: Option<String>,
        /// Human-readable reason.
        message: String,
        /// The failed PaymentIntent, when known.
        payment_intent_id: Option<String>,
    },
    /// Any other non-final status (`processing`, `requires_capture`, …).
    Pending(PaymentIntent),
}

impl ChargeOutcome {
    /// The PaymentIntent id this outcome refers to, when known.
    pub fn payment_intent_id(&self) -> Option<&str> {
        match self {
            Self::Succeeded(pi) | Self::Pending(pi) => Some(&pi.id),
            Self::RequiresAction {
                payment_intent_id, ..
            }
            | Self::Declined {
                payment_intent_id, ..
            } => payment_intent_id.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            "succeeded",
            "requires_action",
            "requires_payment_method",
            "requires_confirmation",
            "requires_capture",
            "processing",
            "canceled",
            "something_new",
        ] {
            assert_eq!(PaymentIntentStatus::from_stripe(s).as_str(), s);
        }
        assert_eq!(
            PaymentIntentStatus::from_stripe("requires_capture"),
            PaymentIntentStatus::RequiresCapture
        );
        assert_eq!(
            PaymentIntentStatus::from_stripe("something_new"),
            PaymentIntentStatus::Other("something_new".into())
        );
    }
}
