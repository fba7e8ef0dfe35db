//! Against a fresh localstripe 1.15 per test.

use crate::support;

use std::time::Duration;

use tollgate_stripe::{
    ChargeOutcome, ChargeRequest, PaymentGateway, PaymentIntentStatus, StripeError, StripeGateway,
};
use tollgate_testkit::LocalStripe;

const KEY: &str = "sk_test_tollgate";

async fn start() -> (LocalStripe, StripeGateway) {
    let stripe = LocalStripe::start().await.expect("localstripe");
    let gateway = support::gateway(&stripe.base_url(), Duration::from_secs(10));
    (stripe, gateway)
}

/// A customer with `token` (e.g. `pm_card_visa`) attached and made default; returns
/// (customer, payment method).
async fn customer_with_card(gateway: &StripeGateway, org: &str, token: &str) -> (String, String) {
    let customer = gateway
        .create_customer(org, &format!("customer-{org}"))
        .await
        .unwrap();
    let pm = gateway
        .attach_payment_method(&customer, token)
        .await
        .unwrap();
    gateway
        .set_default_payment_method(&customer, &pm.id)
        .await
        .unwrap();
    (customer, pm.id)
}

async fn raw(
    stripe: &LocalStripe,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> serde_json::Value {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", stripe.base_url()))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

fn charge<'a>(
    customer: &'a str,
    pm: &'a str,
    amount: i64,
    key: &'a str,
    metadata: &'a [(&'a str, &'a str)],
) -> ChargeRequest<'a> {
    ChargeRequest {
        customer,
        payment_method: pm,
        amount_cents: amount,
        currency: "usd",
        idempotency_key: key,
        metadata,
    }
}

#[tokio::test]
async fn customer_attach_and_default_payment_method() {
    let (stripe, gateway) = start().await;
    let customer = gateway.create_customer("org_42", "c-1").await.unwrap();
    assert!(customer.starts_with("cus_"), "{customer}");

    let pm = gateway
        .attach_payment_method(&customer, "pm_card_visa")
        .await
        .unwrap();
    assert!(pm.id.starts_with("pm_"), "{pm:?}");
    assert_ne!(pm.id, "pm_card_visa", "localstripe mints a new id");
    assert_eq!(pm.last4.as_deref(), Some("4242"));
    assert_eq!(pm.brand.as_deref(), Some("visa"));

    gateway
        .set_default_payment_method(&customer, &pm.id)
        .await
        .unwrap();
    let stored = raw(
        &stripe,
        reqwest::Method::GET,
        &format!("/v1/customers/{customer}"),
        &[],
    )
    .await;
    assert_eq!(stored["metadata"]["c_organization_id"], "org_42");
    assert_eq!(
        stored["invoice_settings"]["default_payment_method"],
        pm.id.as_str()
    );
}

#[tokio::test]
async fn visa_charge_succeeds_with_amount_and_metadata() {
    let (_stripe, gateway) = start().await;
    let (customer, pm) = customer_with_card(&gateway, "org_1", "pm_card_visa").await;
    let metadata = [("c_recharge_id", "r-1"), ("c_organization_id", "org_1")];
    let outcome = gateway
        .charge(&charge(&customer, &pm, 2500, "recharge-r-1", &metadata))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded(pi) = outcome else {
        panic!("expected Succeeded, got {outcome:?}");
    };
    assert!(pi.id.starts_with("pi_"));
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!(pi.amount, 2500);
    assert_eq!(pi.currency, "usd");
    assert_eq!(pi.customer.as_deref(), Some(customer.as_str()));
    assert_eq!(pi.metadata["c_recharge_id"], "r-1");
    assert_eq!(pi.metadata["c_organization_id"], "org_1");
    assert!(
        pi.latest_charge
            .as_deref()
            .is_some_and(|c| c.starts_with("ch_")),
        "{pi:?}"
    );
    assert_eq!(pi.amount_refunded, 0);

    assert_eq!(gateway.retrieve_payment_intent(&pi.id).await.unwrap(), pi);
}

#[tokio::test]
async fn failing_card_is_declined() {
    let (_stripe, gateway) = start().await;
    let (customer, pm) = customer_with_card(&gateway, "org_1", "pm_card_chargeCustomerFail").await;
    let outcome = gateway
        .charge(&charge(&customer, &pm, 1000, "recharge-fail", &[]))
        .await
        .unwrap();
    let ChargeOutcome::Declined {
        code,
        decline_code,
        message,
        ..
    } = outcome
    else {
        panic!("expected Declined, got {outcome:?}");
    };
    assert_eq!(code, "card_declined");
    assert_eq!(decline_code, None);
    assert!(message.contains("declined"), "{message}");
}

#[tokio::test]
async fn three_ds_card_requires_action() {
    let (stripe, gateway) = start().await;
    let card = raw(
        &stripe,
        reqwest::Method::POST,
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", "4000002500003155"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ],
    )
    .await;
    let token = card["id"].as_str().unwrap();
    let (customer, pm) = customer_with_card(&gateway, "org_3ds", token).await;
    let outcome = gateway
        .charge(&charge(&customer, &pm, 1000, "recharge-3ds", &[]))
        .await
        .unwrap();
    let ChargeOutcome::RequiresAction {
        payment_intent_id: Some(id),
        next_action,
        ..
    } = outcome
    else {
        panic!("expected RequiresAction with an id, got {outcome:?}");
    };
    assert_eq!(
        next_action.as_ref().map(|n| n["type"].clone()),
        Some(serde_json::json!("use_stripe_sdk")),
        "{next_action:?}"
    );
    let pi = gateway.retrieve_payment_intent(&id).await.unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);
    assert_eq!(pi.latest_charge, None);
    // Canceled, it can no longer be completed.
    let canceled = gateway.cancel_payment_intent(&id).await.unwrap();
    assert_eq!(canceled.status, PaymentIntentStatus::Canceled);
}

#[tokio::test]
async fn attaching_a_declined_card_is_a_card_error() {
    let (_stripe, gateway) = start().await;
    let customer = gateway.create_customer("org_1", "c-1").await.unwrap();
    let err = gateway
        .attach_payment_method(&customer, "pm_card_visa_chargeDeclined")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StripeError::Card { code, .. } if code == "card_declined"),
        "{err:?}"
    );
}

#[tokio::test]
async fn find_payment_intent_by_metadata_across_pages() {
    let (_stripe, gateway) = start().await;
    let gateway = gateway.with_list_page_size(2);
    let (alice, alice_pm) = customer_with_card(&gateway, "org_a", "pm_card_visa").await;
    let (bob, bob_pm) = customer_with_card(&gateway, "org_b", "pm_card_visa").await;

    let mut ids = std::collections::BTreeMap::new();
    // Bob's PaymentIntent carries the same metadata value as the one we look for.
    for (who, pm, recharge) in [
        (&alice, &alice_pm, "r-1"),
        (&bob, &bob_pm, "r-3"),
        (&alice, &alice_pm, "r-2"),
        (&alice, &alice_pm, "dup"),
        (&alice, &alice_pm, "dup"),
        (&bob, &bob_pm, "r-9"),
        (&alice, &alice_pm, "r-3"), // last: on the last page (localstripe lists oldest first)
    ] {
        let metadata = [("c_recharge_id", recharge)];
        let key = format!("{who}-{recharge}-{}", ids.len());
        let outcome = gateway
            .charge(&charge(who, pm, 100, &key, &metadata))
            .await
            .unwrap();
        let ChargeOutcome::Succeeded(pi) = outcome else {
            panic!("{outcome:?}");
        };
        ids.insert((who.clone(), recharge, ids.len()), pi.id);
    }
    let id_of = |who: &String, recharge: &str, n: usize| ids[&(who.clone(), recharge, n)].clone();

    let found = gateway
        .find_payment_intent(&alice, "c_recharge_id", "r-3")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, id_of(&alice, "r-3", 6));
    assert_eq!(found.customer.as_deref(), Some(alice.as_str()));
    assert_eq!(found.metadata["c_recharge_id"], "r-3");

    let found = gateway
        .find_payment_intent(&bob, "c_recharge_id", "r-3")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, id_of(&bob, "r-3", 1));

    let found = gateway
        .find_payment_intent(&alice, "c_recharge_id", "r-1")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, id_of(&alice, "r-1", 0));

    let newest = gateway
        .find_payment_intent(&alice, "c_recharge_id", "dup")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(newest.id, id_of(&alice, "dup", 4), "the newest wins");

    for (who, key, value) in [
        (&alice, "c_recharge_id", "r-9"), // Bob's
        (&alice, "c_recharge_id", "absent"),
        (&alice, "other_key", "r-1"),
    ] {
        assert_eq!(
            gateway.find_payment_intent(who, key, value).await.unwrap(),
            None,
            "{key}={value}"
        );
    }
}

#[tokio::test]
async fn refund_shows_in_amount_refunded() {
    let (_stripe, gateway) = start().await;
    let (customer, pm) = customer_with_card(&gateway, "org_1", "pm_card_visa").await;
    let outcome = gateway
        .charge(&charge(&customer, &pm, 1800, "recharge-r", &[]))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded(pi) = outcome else {
        panic!("{outcome:?}");
    };
    let refund = gateway
        .refund(&pi.id, "refund-r", &[("c_reason", "kms_down")])
        .await
        .unwrap();
    assert!(refund.id.starts_with("re_"), "{refund:?}");
    assert_eq!(refund.amount, 1800);
    assert_eq!(refund.status.as_deref(), Some("succeeded"));

    let after = gateway.retrieve_payment_intent(&pi.id).await.unwrap();
    assert_eq!(after.amount_refunded, 1800);
    assert_eq!(after.latest_charge, pi.latest_charge);
}

#[tokio::test]
async fn unknown_objects_are_rejected_with_404() {
    let (_stripe, gateway) = start().await;
    let err = gateway
        .retrieve_payment_intent("pi_doesnotexist")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::Rejected { status: 404, .. }),
        "{err:?}"
    );

    let err = gateway
        .charge(&charge("cus_doesnotexist", "pm_card_visa", 100, "k", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::Rejected { status: 404, .. }),
        "{err:?}"
    );
}
