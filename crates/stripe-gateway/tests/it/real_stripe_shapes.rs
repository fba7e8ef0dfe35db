//! Answers shaped like real Stripe's (documented API), served by a scripted fake, through the
//! whole transport: what we send, and how Stripe's errors and objects are read.

use crate::support;

use std::time::Duration;

use support::{FakeStripe, Reply};
use tollgate_stripe::{
    ChargeOutcome, ChargeRequest, PaymentGateway, PaymentIntentStatus, StripeError,
};

const CHARGE: ChargeRequest<'static> = ChargeRequest {
    customer: "cus_NffrFeUfNV2Hib",
    payment_method: "pm_1MtwBwLkdIwHu7ixxq7x7b5O",
    amount_cents: 2500,
    currency: "usd",
    idempotency_key: "recharge-42",
    metadata: &[("c_recharge_id", "r-42"), ("c_organization_id", "org_7")],
};

/// A PaymentIntent as real Stripe renders it inside a 402 for a declined off-session payment.
fn payment_intent_json(status: &str, code: &str, decline_code: &str) -> String {
    format!(
        r#"{{
      "id": "pi_3OffSession0001",
      "object": "payment_intent",
      "amount": 2500,
      "amount_capturable": 0,
      "amount_details": {{"tip": {{}}}},
      "amount_received": 0,
      "application": null,
      "application_fee_amount": null,
      "automatic_payment_methods": null,
      "canceled_at": null,
      "cancellation_reason": null,
      "capture_method": "automatic_async",
      "client_secret": "pi_3OffSession0001_secret_abc",
      "confirmation_method": "automatic",
      "created": 1700000000,
      "currency": "usd",
      "customer": "cus_NffrFeUfNV2Hib",
      "description": null,
      "last_payment_error": {{
        "code": "{code}",
        "decline_code": "{decline_code}",
        "doc_url": "https://stripe.com/docs/error-codes/{code}",
        "message": "Your card was declined.",
        "type": "card_error"
      }},
      "latest_charge": "ch_3OffSession0001",
      "livemode": false,
      "metadata": {{"c_recharge_id": "r-42", "c_organization_id": "org_7"}},
      "next_action": null,
      "on_behalf_of": null,
      "payment_method": null,
      "payment_method_configuration_details": null,
      "payment_method_options": {{"card": {{"installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic"}}}},
      "payment_method_types": ["card"],
      "processing": null,
      "receipt_email": null,
      "review": null,
      "setup_future_usage": null,
      "shipping": null,
      "source": null,
      "statement_descriptor": null,
      "statement_descriptor_suffix": null,
      "status": "{status}",
      "transfer_data": null,
      "transfer_group": null
    }}"#
    )
}

fn card_error(code: &str, decline_code: &str, message: &str) -> String {
    format!(
        r#"{{"error": {{
      "charge": "ch_3OffSession0001",
      "code": "{code}",
      "decline_code": "{decline_code}",
      "doc_url": "https://stripe.com/docs/error-codes/{code}",
      "message": "{message}",
      "payment_intent": {pi},
      "request_log_url": "https://dashboard.stripe.com/test/logs/req_abc",
      "type": "card_error"
    }}}}"#,
        pi = payment_intent_json("requires_payment_method", code, decline_code)
    )
}

#[tokio::test]
async fn authentication_required_402_is_requires_action_with_the_payment_intent() {
    let fake = FakeStripe::start(vec![Reply::json(
        402,
        card_error(
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        ),
    )]);
    let outcome = fake
        .gateway(Duration::from_secs(5))
        .charge(&CHARGE)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ChargeOutcome::RequiresAction {
            payment_intent_id: Some("pi_3OffSession0001".into()),
            message: "Your card was declined. This transaction requires authentication.".into(),
            next_action: None,
        }
    );
}

#[tokio::test]
async fn card_error_402_is_declined_with_decline_code() {
    let fake = FakeStripe::start(vec![Reply::json(
        402,
        card_error(
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    )]);
    let outcome = fake
        .gateway(Duration::from_secs(5))
        .charge(&CHARGE)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ChargeOutcome::Declined {
            code: "card_declined".into(),
            decline_code: Some("insufficient_funds".into()),
            message: "Your card has insufficient funds.".into(),
            payment_intent_id: Some("pi_3OffSession0001".into()),
        }
    );
}

#[tokio::test]
async fn charge_sends_only_the_documented_parameters_with_the_idempotency_key() {
    let fake = FakeStripe::start(vec![Reply::json(
        200,
        payment_intent_json("succeeded", "x", "y")
            .replace(r#""last_payment_error": {"#, r#""ignored": {"#),
    )]);
    let outcome = fake
        .gateway(Duration::from_secs(5))
        .charge(&CHARGE)
        .await
        .unwrap();
    let ChargeOutcome::Succeeded(pi) = outcome else {
        panic!("expected Succeeded, got {outcome:?}");
    };
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!(pi.latest_charge.as_deref(), Some("ch_3OffSession0001"));
    assert_eq!(pi.metadata["c_organization_id"], "org_7");

    let sent = fake.recorded();
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/payment_intents");
    assert_eq!(sent.idempotency_key.as_deref(), Some("recharge-42"));
    assert_eq!(
        sent.authorization.as_deref(),
        Some("Bearer sk_test_tollgate")
    );
    let expected: Vec<(&str, &str)> = vec![
        ("amount", "2500"),
        ("confirm", "true"),
        ("currency", "usd"),
        ("customer", "cus_NffrFeUfNV2Hib"),
        ("metadata[c_organization_id]", "org_7"),
        ("metadata[c_recharge_id]", "r-42"),
        ("off_session", "true"),
        ("payment_method", "pm_1MtwBwLkdIwHu7ixxq7x7b5O"),
    ];
    let got: Vec<(&str, &str)> = sent
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn retrieve_expands_latest_charge_and_reads_amount_refunded() {
    let pi = payment_intent_json("succeeded", "x", "y").replace(
        r#""latest_charge": "ch_3OffSession0001""#,
        r#""latest_charge": {"id": "ch_3OffSession0001", "object": "charge", "amount": 2500, "amount_refunded": 1000, "refunded": false}"#,
    );
    let fake = FakeStripe::start(vec![Reply::json(200, pi)]);
    let pi = fake
        .gateway(Duration::from_secs(5))
        .retrieve_payment_intent("pi_3OffSession0001")
        .await
        .unwrap();
    assert_eq!(pi.latest_charge.as_deref(), Some("ch_3OffSession0001"));
    assert_eq!(pi.amount_refunded, 1000);
    let sent = &fake.recorded()[0];
    assert_eq!(sent.method, "GET");
    assert_eq!(sent.path, "/v1/payment_intents/pi_3OffSession0001");
    assert_eq!(
        sent.query.get("expand[0]").map(String::as_str),
        Some("latest_charge")
    );
    assert_eq!(sent.idempotency_key, None);
}

fn list_page(ids_and_recharge: &[(&str, &str, &str)], has_more: bool) -> String {
    let data: Vec<String> = ids_and_recharge
        .iter()
        .map(|(id, customer, recharge)| {
            format!(
                r#"{{"id":"{id}","object":"payment_intent","status":"succeeded","amount":100,
                "currency":"usd","customer":"{customer}","metadata":{{"c_recharge_id":"{recharge}"}},
                "latest_charge":{{"id":"ch_{id}","amount_refunded":0}},"created":1700000000}}"#
            )
        })
        .collect();
    format!(
        r#"{{"object":"list","url":"/v1/payment_intents","has_more":{has_more},"data":[{}]}}"#,
        data.join(",")
    )
}

#[tokio::test]
async fn find_pages_by_customer_newest_first() {
    let fake = FakeStripe::start(vec![
        Reply::json(
            200,
            list_page(&[("pi_9", "cus_A", "r-9"), ("pi_8", "cus_A", "r-8")], true),
        ),
        Reply::json(
            200,
            list_page(&[("pi_7", "cus_A", "r-3"), ("pi_3", "cus_A", "r-3")], true),
        ),
        Reply::json(200, list_page(&[("pi_1", "cus_A", "r-1")], false)),
    ]);
    let gateway = fake.gateway(Duration::from_secs(5)).with_list_page_size(2);
    let found = gateway
        .find_payment_intent("cus_A", "c_recharge_id", "r-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "pi_7", "newest first: the first match wins");

    let sent = fake.recorded();
    assert_eq!(sent.len(), 2, "stops at the first match");
    assert_eq!(sent[0].path, "/v1/payment_intents");
    assert_eq!(
        sent[0].query.get("customer").map(String::as_str),
        Some("cus_A")
    );
    assert_eq!(sent[0].query.get("limit").map(String::as_str), Some("2"));
    assert_eq!(sent[0].query.get("starting_after"), None);
    assert_eq!(
        sent[1].query.get("starting_after").map(String::as_str),
        Some("pi_8")
    );

    // Absent (the fake now only has the last page left): None after has_more=false.
    let absent = gateway
        .find_payment_intent("cus_A", "c_recharge_id", "r-404")
        .await
        .unwrap();
    assert_eq!(absent, None);
    let sent = fake.recorded();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].query.get("starting_after"), None);
}

#[tokio::test]
async fn other_client_errors_are_rejected() {
    let fake = FakeStripe::start(vec![Reply::json(
        400,
        r#"{"error":{"type":"invalid_request_error","code":"parameter_unknown","param":"foo","message":"Received unknown parameter: foo"}}"#,
    )]);
    let err = fake
        .gateway(Duration::from_secs(5))
        .charge(&CHARGE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StripeError::Rejected { status: 400, code: Some(code), message }
            if code == "parameter_unknown" && message.contains("foo")),
        "{err:?}"
    );
}

#[tokio::test]
async fn empty_idempotency_key_is_refused_before_sending() {
    let fake = FakeStripe::start(vec![Reply::json(500, "{}")]);
    let request = ChargeRequest {
        idempotency_key: "",
        ..CHARGE
    };
    let err = fake
        .gateway(Duration::from_secs(5))
        .charge(&request)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::Rejected { status: 0, .. }),
        "{err:?}"
    );
    assert!(fake.recorded().is_empty());
}
