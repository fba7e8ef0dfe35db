//! Limit webhooks that must not move money: bad or missing signatures, bodies that do not
//! match their signature, unknown teams, malformed bodies, huge bodies.

use crate::support;

use billing::views::{EventAction, EventAnswer};
use serde_json::json;
use support::{spawn, spawn_with, Env};
use tollgate_domain::signature::sign_sha256;
use tollgate_testkit::WEBHOOK_SECRET;

/// Nothing was recorded and Stripe was never asked for money.
async fn nothing_changed(env: &Env, org: &str) {
    assert_eq!(env.count("recharge_records").await, 0);
    assert_eq!(env.count("webhook_events").await, 0);
    assert_eq!(env.count("credit_ledger").await, 0);
    assert!(env.payment_intents().await.is_empty());
    assert_eq!(env.kms_quota(org), Some(0));
}

/// The error code of an answer (the one error body reads as an event answer with `error`).
fn error_code(body: &EventAnswer) -> &str {
    body.error.as_ref().map_or("", |e| e.code.as_str())
}

#[tokio::test]
async fn signatures_are_required_and_checked() {
    let env = spawn().await;
    let team = env.ready_org("sig", "pm_card_visa", json!({})).await;
    let body = Env::limit_body(&team, 520.0);
    let other = Env::limit_body(&team, 999.0);
    let good = sign_sha256(WEBHOOK_SECRET.as_bytes(), &body);
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing signature"),
        (Some("sha256=".to_owned() + &"0".repeat(64)), "wrong digest"),
        (Some(sign_sha256(b"another-secret", &body)), "wrong secret"),
        (
            Some(sign_sha256(WEBHOOK_SECRET.as_bytes(), &other)),
            "signature over a different body",
        ),
        (
            Some(good.trim_start_matches("sha256=").to_owned()),
            "no sha256= prefix",
        ),
        (Some("sha256=not-hex".into()), "not hex"),
        (Some(String::new()), "empty"),
    ];
    for (sig, why) in cases {
        let (status, answer) = env.send_raw(body.clone(), sig.as_deref(), None).await;
        assert_eq!(status, 401, "{why}: {answer:?}");
        assert!(!answer.success, "{why}");
        assert_eq!(error_code(&answer), "unauthorized", "{why}");
    }
    // A body changed by one byte after signing.
    let mut tampered = body.clone();
    let pos = tampered.iter().position(|b| *b == b'5').unwrap();
    tampered[pos] = b'9';
    let (status, _) = env.send_raw(tampered, Some(&good), None).await;
    assert_eq!(status, 401);
    nothing_changed(&env, "sig").await;
    // The genuine one still works afterwards.
    let (status, answer) = env.send_raw(body, Some(&good), None).await;
    assert_eq!(
        (status, answer.action),
        (200, Some(EventAction::AutoRecharged))
    );
}

#[tokio::test]
async fn unknown_team_is_404_and_records_nothing() {
    let env = spawn().await;
    env.ready_org("known", "pm_card_visa", json!({})).await;
    let (status, answer) = env
        .send_limit("team_nobody", 520.0, Some("evt-unknown"))
        .await;
    assert_eq!(status, 404, "{answer:?}");
    assert_eq!(error_code(&answer), "not_found");
    nothing_changed(&env, "known").await;
}

#[tokio::test]
async fn malformed_bodies_are_400_and_record_nothing() {
    let env = spawn().await;
    let team = env.ready_org("malformed", "pm_card_visa", json!({})).await;
    let bodies: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "invalid_json"),
        (b"".to_vec(), "invalid_json"),
        (b"[]".to_vec(), "invalid_body"),
        (json!({ "event_type": "limit_exceeded" }).to_string().into_bytes(), "invalid_body"),
        (json!({ "event_type": "budget_alert", "team_id": team, "current_usage": 1, "current_limit": 1, "exceeded_by": 0, "timestamp": "t" }).to_string().into_bytes(), "invalid_event_type"),
        (json!({ "event_type": "limit_exceeded", "team_id": team, "current_usage": "520", "current_limit": 500, "exceeded_by": 20, "timestamp": "t" }).to_string().into_bytes(), "invalid_body"),
        (json!({ "event_type": "limit_exceeded", "team_id": team, "current_usage": -5, "current_limit": 500, "exceeded_by": 20, "timestamp": "t" }).to_string().into_bytes(), "invalid_body"),
        (json!({ "event_type": "limit_exceeded", "team_id": 7, "current_usage": 5, "current_limit": 500, "exceeded_by": 20, "timestamp": "t" }).to_string().into_bytes(), "invalid_body"),
    ];
    for (body, code) in bodies {
        let sig = sign_sha256(WEBHOOK_SECRET.as_bytes(), &body);
        let (status, answer) = env.send_raw(body.clone(), Some(&sig), None).await;
        assert_eq!(
            status,
            400,
            "{}: {answer:?}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            error_code(&answer),
            code,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let body = Env::limit_body(&team, 520.0);
    let sig = sign_sha256(WEBHOOK_SECRET.as_bytes(), &body);
    let (status, answer) = env
        .send_raw(body, Some(&sig), Some("bad id with spaces"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&answer), "invalid_webhook_id");
    nothing_changed(&env, "malformed").await;
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let env = spawn().await;
    env.ready_org("huge", "pm_card_visa", json!({})).await;
    let body = vec![b' '; 200 * 1024];
    let sig = sign_sha256(WEBHOOK_SECRET.as_bytes(), &body);
    let (status, answer) = env.send_raw(body, Some(&sig), None).await;
    assert_eq!(status, 413, "{answer:?}");
    assert_eq!(error_code(&answer), "payload_too_large");
    nothing_changed(&env, "huge").await;
}

#[tokio::test]
async fn replays_get_the_first_answer() {
    replays_answer_as_the_first(16).await;
}

/// With no answer kept in memory (`WEBHOOK_ANSWER_CACHE_MB=0`) replays read the database.
#[tokio::test]
async fn replays_get_the_first_answer_without_the_answer_cache() {
    replays_answer_as_the_first(0).await;
}

async fn replays_answer_as_the_first(cache_mb: u64) {
    let env = spawn_with(|b| b.webhook_answer_cache_mb = cache_mb).await;
    let team = env.ready_org("replay", "pm_card_visa", json!({})).await;
    let (s1, first) = env.send_limit(&team, 520.0, Some("evt-1")).await;
    assert_eq!(first.action, Some(EventAction::AutoRecharged));
    // Same id, different (later) body: still the first answer.
    let (s2, again) = env.send_limit(&team, 9_999.0, Some("evt-1")).await;
    assert_eq!((s1, &first), (s2, &again));
    // Without an id, the body's hash is the id.
    let (_, a) = env.send_limit(&team, 2_000.0, None).await;
    let (_, b) = env.send_limit(&team, 2_000.0, None).await;
    assert_eq!(a, b);
    assert_eq!(a.event_id.as_deref().unwrap().len(), "sha256:".len() + 64);
    assert_eq!(env.charges().await, 2);
    assert_eq!(env.count("webhook_events").await, 2);
}
