//! Lenient serde shapes of Stripe's answers: only the fields we read, everything else ignored,
//! nulls and absent fields tolerated. Real Stripe and localstripe both fit.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::types::{AttachedPaymentMethod, ChargeOutcome, PaymentIntent, PaymentIntentStatus};

/// A field Stripe gives either as an id or as the expanded object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum IdOr<T> {
    Id(String),
    Object(T),
}

#[derive(Debug, Deserialize)]
pub(crate) struct WithId {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Charge {
    pub id: String,
    #[serde(default)]
    pub amount_refunded: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LastPaymentError {
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WirePaymentIntent {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub customer: Option<IdOr<WithId>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub latest_charge: Option<IdOr<Charge>>,
    /// Only in API versions before 2022-11-15 (and in localstripe).
    #[serde(default)]
    pub charges: Option<List<Charge>>,
    #[serde(default)]
    pub last_payment_error: Option<LastPaymentError>,
    #[serde(default)]
    pub next_action: Option<serde_json::Value>,
    #[serde(default)]
    pub created: Option<i64>,
}

impl WirePaymentIntent {
    pub(crate) fn customer_id(&self) -> Option<&str> {
        match self.customer.as_ref()? {
            IdOr::Id(id) => Some(id),
            IdOr::Object(object) => Some(&object.id),
        }
    }

    pub(crate) fn into_public(self) -> PaymentIntent {
        let customer = self.customer_id().map(str::to_owned);
        let charges = self.charges.map(|l| l.data).unwrap_or_default();
        let (latest_charge, amount_refunded) = match self.latest_charge {
            Some(IdOr::Object(charge)) => {
                let refunded = charge.amount_refunded.unwrap_or_else(|| {
                    // An embedded charge without the field: fall back to the charges list.
                    charges.iter().filter_map(|c| c.amount_refunded).sum()
                });
                (Some(charge.id), refunded)
            }
            Some(IdOr::Id(id)) => (
                Some(id),
                charges.iter().filter_map(|c| c.amount_refunded).sum(),
            ),
            None => (
                charges.first().map(|c| c.id.clone()),
                charges.iter().filter_map(|c| c.amount_refunded).sum(),
            ),
        };
        PaymentIntent {
            status: PaymentIntentStatus::from_stripe(&self.status),
            id: self.id,
            amount: self.amount.unwrap_or_default(),
            currency: self.currency.unwrap_or_default(),
            customer,
            metadata: self.metadata.unwrap_or_default(),
            latest_charge,
            amount_refunded,
        }
    }

    /// What a freshly confirmed PaymentIntent means for the charge.
    pub(crate) fn into_charge_outcome(self) -> ChargeOutcome {
        let error = self.last_payment_error.as_ref();
        let needs_auth = error.is_some_and(|e| {
            e.code.as_deref() == Some(AUTHENTICATION_REQUIRED)
                || e.decline_code.as_deref() == Some(AUTHENTICATION_REQUIRED)
        });
        match PaymentIntentStatus::from_stripe(&self.status) {
            PaymentIntentStatus::Succeeded => ChargeOutcome::Succeeded(self.into_public()),
            PaymentIntentStatus::RequiresAction => ChargeOutcome::RequiresAction {
                message: error
                    .and_then(|e| e.message.clone())
                    .unwrap_or_else(|| "the customer must authenticate this payment".into()),
                next_action: self.next_action.clone().filter(|v| !v.is_null()),
                payment_intent_id: Some(self.id),
            },
            PaymentIntentStatus::RequiresPaymentMethod if needs_auth => {
                ChargeOutcome::RequiresAction {
                    message: error
                        .and_then(|e| e.message.clone())
                        .unwrap_or_else(|| "the customer must authenticate this payment".into()),
                    next_action: self.next_action.clone().filter(|v| !v.is_null()),
                    payment_intent_id: Some(self.id),
                }
            }
            PaymentIntentStatus::RequiresPaymentMethod if error.is_some() => {
                let error = self.last_payment_error.unwrap_or_default();
                ChargeOutcome::Declined {
                    code: error.code.unwrap_or_else(|| "card_declined".into()),
                    decline_code: error.decline_code,
                    message: error.message.unwrap_or_else(|| "the payment failed".into()),
                    payment_intent_id: Some(self.id),
                }
            }
            PaymentIntentStatus::Canceled => ChargeOutcome::Declined {
                code: "canceled".into(),
                decline_code: None,
                message: "the PaymentIntent was canceled".into(),
                payment_intent_id: Some(self.id),
            },
            _ => ChargeOutcome::Pending(self.into_public()),
        }
    }
}

/// The code (or decline code) Stripe uses when an off-session payment needs 3DS.
pub(crate) const AUTHENTICATION_REQUIRED: &str = "authentication_required";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Card {
    pub brand: Option<String>,
    pub last4: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PaymentMethod {
    pub id: String,
    #[serde(default)]
    pub card: Option<Card>,
}

impl PaymentMethod {
    pub(crate) fn into_public(self) -> AttachedPaymentMethod {
        let card = self.card.unwrap_or_default();
        AttachedPaymentMethod {
            id: self.id,
            brand: card.brand,
            last4: card.last4,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
}

impl Refund {
    pub(crate) fn into_public(self) -> crate::Refund {
        crate::Refund {
            id: self.id,
            status: self.status,
            amount: self.amount.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like real Stripe (API 2022-11-15 and later): `latest_charge` is an id, no
    /// `charges` list, plenty of fields we ignore.
    const REAL_STRIPE_PI: &str = r#"{
      "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
      "object": "payment_intent",
      "amount": 2000,
      "amount_capturable": 0,
      "amount_details": {"tip": {}},
      "amount_received": 2000,
      "application": null,
      "automatic_payment_methods": {"enabled": true},
      "canceled_at": null,
      "capture_method": "automatic_async",
      "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
      "confirmation_method": "automatic",
      "created": 1680800504,
      "currency": "usd",
      "customer": "cus_NffrFeUfNV2Hib",
      "description": null,
      "last_payment_error": null,
      "latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPb",
      "livemode": false,
      "metadata": {"c_recharge_id": "r-42", "c_organization_id": "org_1"},
      "next_action": null,
      "payment_method": "pm_1MtwBwLkdIwHu7ixxq7x7b5O",
      "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
      "payment_method_types": ["card"],
      "processing": null,
      "status": "succeeded"
    }"#;

    #[test]
    fn real_stripe_payment_intent_with_latest_charge_id() {
        let wire: WirePaymentIntent = serde_json::from_str(REAL_STRIPE_PI).unwrap();
        assert_eq!(wire.created, Some(1680800504));
        let pi = wire.into_public();
        assert_eq!(pi.id, "pi_3MtwBwLkdIwHu7ix28a3tqPa");
        assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
        assert_eq!(pi.amount, 2000);
        assert_eq!(pi.currency, "usd");
        assert_eq!(pi.customer.as_deref(), Some("cus_NffrFeUfNV2Hib"));
        assert_eq!(pi.metadata["c_recharge_id"], "r-42");
        assert_eq!(
            pi.latest_charge.as_deref(),
            Some("ch_3MtwBwLkdIwHu7ix28a3tqPb")
        );
        assert_eq!(pi.amount_refunded, 0);
    }

    #[test]
    fn embedded_latest_charge_gives_id_and_refunded_amount() {
        let json = r#"{"id":"pi_1","status":"succeeded","amount":500,"currency":"usd",
            "customer":{"id":"cus_9","object":"customer"},"metadata":{},
            "latest_charge":{"id":"ch_1","amount_refunded":200,"object":"charge"},
            "charges":{"object":"list","data":[{"id":"ch_1","amount_refunded":200}],"has_more":false}}"#;
        let pi = serde_json::from_str::<WirePaymentIntent>(json)
            .unwrap()
            .into_public();
        assert_eq!(pi.latest_charge.as_deref(), Some("ch_1"));
        assert_eq!(pi.amount_refunded, 200);
        assert_eq!(pi.customer.as_deref(), Some("cus_9"));
    }

    #[test]
    fn old_api_charges_list_only() {
        let json = r#"{"id":"pi_1","status":"succeeded","amount":500,"currency":"usd",
            "customer":null,"metadata":null,"latest_charge":null,
            "charges":{"data":[{"id":"ch_2","amount_refunded":500}],"has_more":false}}"#;
        let pi = serde_json::from_str::<WirePaymentIntent>(json)
            .unwrap()
            .into_public();
        assert_eq!(pi.latest_charge.as_deref(), Some("ch_2"));
        assert_eq!(pi.amount_refunded, 500);
        assert_eq!(pi.customer, None);
        assert!(pi.metadata.is_empty());
    }

    #[test]
    fn missing_id_is_not_a_payment_intent() {
        assert!(serde_json::from_str::<WirePaymentIntent>(r#"{"status":"succeeded"}"#).is_err());
    }

    fn outcome(json: &str) -> ChargeOutcome {
        serde_json::from_str::<WirePaymentIntent>(json)
            .unwrap()
            .into_charge_outcome()
    }

    #[test]
    fn charge_outcomes_from_statuses() {
        assert!(matches!(
            outcome(REAL_STRIPE_PI),
            ChargeOutcome::Succeeded(pi) if pi.amount == 2000
        ));
        assert_eq!(
            outcome(r#"{"id":"pi_2","status":"requires_action"}"#).payment_intent_id(),
            Some("pi_2")
        );
        assert!(matches!(
            outcome(r#"{"id":"pi_2","status":"requires_action"}"#),
            ChargeOutcome::RequiresAction { .. }
        ));
        assert_eq!(
            outcome(
                r#"{"id":"pi_3","status":"requires_payment_method","last_payment_error":
                {"code":"card_declined","decline_code":"insufficient_funds","message":"no money"}}"#
            ),
            ChargeOutcome::Declined {
                code: "card_declined".into(),
                decline_code: Some("insufficient_funds".into()),
                message: "no money".into(),
                payment_intent_id: Some("pi_3".into()),
            }
        );
        assert!(matches!(
            outcome(
                r#"{"id":"pi_4","status":"requires_payment_method","last_payment_error":
                {"code":"card_declined","decline_code":"authentication_required","message":"3ds"}}"#
            ),
            ChargeOutcome::RequiresAction { payment_intent_id: Some(id), .. } if id == "pi_4"
        ));
        assert!(matches!(
            outcome(r#"{"id":"pi_5","status":"processing"}"#),
            ChargeOutcome::Pending(pi) if pi.status == PaymentIntentStatus::Processing
        ));
        assert!(matches!(
            outcome(r#"{"id":"pi_6","status":"requires_capture"}"#),
            ChargeOutcome::Pending(_)
        ));
        assert!(matches!(
            outcome(r#"{"id":"pi_7","status":"canceled"}"#),
            ChargeOutcome::Declined { code, .. } if code == "canceled"
        ));
    }

    #[test]
    fn payment_method_and_refund() {
        let pm: PaymentMethod = serde_json::from_str(
            r#"{"id":"pm_1","card":{"brand":"visa","last4":"4242","exp_year":2030},"type":"card"}"#,
        )
        .unwrap();
        assert_eq!(
            pm.into_public(),
            AttachedPaymentMethod {
                id: "pm_1".into(),
                brand: Some("visa".into()),
                last4: Some("4242".into())
            }
        );
        let refund: Refund =
            serde_json::from_str(r#"{"id":"re_1","status":"succeeded","amount":700}"#).unwrap();
        assert_eq!(
            refund.into_public(),
            crate::Refund {
                id: "re_1".into(),
                status: Some("succeeded".into()),
                amount: 700
            }
        );
    }
}
