//! `POST /webhooks/stripe`: Stripe-Signature checked, each event recorded once.

use crate::support;

use billing::payment_events::Applied;
use billing::views::StripeAnswer;
use serde_json::json;
use support::{spawn, spawn_with, STRIPE_WEBHOOK_SECRET};
use tollgate_testkit::{answer, error_code};

fn event(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": { "object": { "id": "pi_123", "object": "payment_intent", "metadata": { "recharge_id": "00000000-0000-0000-0000-000000000000" } } },
    }))
    .unwrap()
}

async fn post(env: &support::Env, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut req = env
        .http
        .post(env.app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        req = req.header("Stripe-Signature", s);
    }
    req.send().await.unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn signed_events_are_recorded_once() {
    let env = spawn().await;
    let body = event("evt_1");
    let sig = tollgate_stripe::sign_webhook(&body, STRIPE_WEBHOOK_SECRET, now());
    let first: StripeAnswer = answer(post(&env, body.clone(), Some(sig.clone())).await, 200).await;
    assert!(first.success && first.received);
    assert_eq!(first.event_id, "evt_1");
    // Not a recharge of billing's: applied as nothing, and the copy gets the same answer.
    assert_eq!(first.action, Some(Applied::Ignored));
    let again: StripeAnswer = answer(post(&env, body, Some(sig)).await, 200).await;
    assert_eq!(again, first);
    assert_eq!(env.count("webhook_events WHERE source = 'stripe'").await, 1);
}

#[tokio::test]
async fn bad_signatures_and_bodies_are_refused() {
    let env = spawn().await;
    let body = event("evt_2");
    let cases = [
        (None, 400),
        (Some("t=1,v1=00".to_owned()), 400),
        (
            Some(tollgate_stripe::sign_webhook(&body, "whsec_other", now())),
            400,
        ),
        (
            Some(tollgate_stripe::sign_webhook(
                &event("evt_other"),
                STRIPE_WEBHOOK_SECRET,
                now(),
            )),
            400,
        ),
        (
            Some(tollgate_stripe::sign_webhook(
                &body,
                STRIPE_WEBHOOK_SECRET,
                now() - 3_600,
            )),
            400,
        ),
        (Some("garbage".to_owned()), 400),
    ];
    for (sig, expected) in cases {
        let res = post(&env, body.clone(), sig.clone()).await;
        assert_eq!(
            error_code(res, expected).await,
            "invalid_signature",
            "{sig:?}"
        );
    }
    assert_eq!(env.count("webhook_events").await, 0);
    // Several v1 signatures (a secret being rolled): one that matches is enough.
    let good = tollgate_stripe::sign_webhook(&body, STRIPE_WEBHOOK_SECRET, now());
    let rolled = good.replacen(",v1=", &format!(",v1={},v1=", "0".repeat(64)), 1);
    answer::<StripeAnswer>(post(&env, body.clone(), Some(rolled)).await, 200).await;
    let junk = b"{not json".to_vec();
    let sig = tollgate_stripe::sign_webhook(&junk, STRIPE_WEBHOOK_SECRET, now());
    assert_eq!(
        error_code(post(&env, junk, Some(sig)).await, 400).await,
        "invalid_json"
    );
    let no_id = b"{\"type\":\"x\"}".to_vec();
    let sig = tollgate_stripe::sign_webhook(&no_id, STRIPE_WEBHOOK_SECRET, now());
    error_code(post(&env, no_id, Some(sig)).await, 400).await;
    assert_eq!(
        env.count("webhook_events").await,
        1,
        "only the event with the rolled signatures"
    );
}

#[tokio::test]
async fn without_a_secret_nothing_is_accepted() {
    let env = spawn_with(|b| b.stripe_webhook_secret = None).await;
    let body = event("evt_3");
    let sig = tollgate_stripe::sign_webhook(&body, STRIPE_WEBHOOK_SECRET, now());
    let res = post(&env, body, Some(sig)).await;
    assert_eq!(error_code(res, 503).await, "unavailable");
    assert_eq!(env.count("webhook_events").await, 0);
}
