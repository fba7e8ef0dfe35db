//! When Stripe cannot be reached or answers nonsense, the outcome is unknown: `Unavailable`,
//! quickly, after exactly one attempt (we do our own retries).

use crate::support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::{FakeStripe, Reply};
use tollgate_stripe::{ChargeRequest, PaymentGateway, StripeError};

const CHARGE: ChargeRequest<'static> = ChargeRequest {
    customer: "cus_1",
    payment_method: "pm_1",
    amount_cents: 1000,
    currency: "usd",
    idempotency_key: "recharge-1",
    metadata: &[("c_recharge_id", "r-1")],
};

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StripeError>) {
    assert!(
        matches!(result, Err(StripeError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
}

#[tokio::test]
async fn server_error_is_unavailable_and_not_retried() {
    let fake = FakeStripe::start(vec![Reply::json(
        500,
        r#"{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}"#,
    )]);
    let gateway = fake.gateway(Duration::from_secs(5));
    assert_unavailable(gateway.charge(&CHARGE).await);
    assert_eq!(fake.recorded().len(), 1, "the library must not retry");
    assert_unavailable(gateway.create_customer("org_1", "cust-1").await);
    assert_unavailable(gateway.retrieve_payment_intent("pi_1").await);
    assert_unavailable(gateway.refund("pi_1", "refund-1", &[]).await);
    assert_eq!(fake.recorded().len(), 4);
}

#[tokio::test]
async fn rate_limit_and_idempotency_conflict_are_unavailable() {
    for (status, body) in [
        (
            429,
            r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#,
        ),
        (
            409,
            r#"{"error":{"type":"idempotency_error","message":"There is currently another in-progress request using this Stripe API key"}}"#,
        ),
    ] {
        let fake = FakeStripe::start(vec![Reply::json(status, body)]);
        assert_unavailable(fake.gateway(Duration::from_secs(5)).charge(&CHARGE).await);
        assert_eq!(fake.recorded().len(), 1);
    }
}

#[tokio::test]
async fn slow_answer_is_unavailable_within_the_timeout() {
    let fake = FakeStripe::start(vec![Reply::json(
        200,
        r#"{"id":"pi_1","status":"succeeded"}"#,
    )
    .delayed(Duration::from_secs(5))]);
    let gateway = fake.gateway(Duration::from_millis(300));
    let started = Instant::now();
    assert_unavailable(gateway.charge(&CHARGE).await);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(fake.recorded().len(), 1);

    let started = Instant::now();
    assert_unavailable(gateway.retrieve_payment_intent("pi_1").await);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gateway = support::gateway(&format!("http://{closed}"), Duration::from_secs(5));
    let started = Instant::now();
    assert_unavailable(gateway.charge(&CHARGE).await);
    assert_unavailable(gateway.attach_payment_method("cus_1", "pm_1").await);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unreadable_answers_are_unavailable() {
    for (status, body) in [
        (200, "this is not json"),
        (200, r#"{"object":"list"}"#), // JSON, but not a PaymentIntent
        (200, ""),
        (502, "<html>Bad Gateway</html>"),
        (404, "404: Not Found"), // not a Stripe error answer: cannot tell what happened
    ] {
        let fake = FakeStripe::start(vec![Reply::json(status, body)]);
        let gateway = fake.gateway(Duration::from_secs(5));
        assert_unavailable(gateway.charge(&CHARGE).await);
        assert_unavailable(gateway.retrieve_payment_intent("pi_1").await);
    }
}
