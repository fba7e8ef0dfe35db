//! Exactly-once under real concurrent requests.

use crate::support;

use billing::views::{EventAction, RechargeAnswer};
use futures_util::future::join_all;
use serde_json::json;
use support::spawn;

#[tokio::test]
async fn fifty_copies_of_one_event_charge_once() {
    let env = spawn().await;
    let team = env.ready_org("fifty", "pm_card_visa", json!({})).await;
    let sends = (0..50).map(|_| env.send_limit(&team, 520.0, Some("evt-same")));
    let answers = join_all(sends).await;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer:?}");
        assert_eq!(answer, &answers[0].1);
    }
    assert_eq!(answers[0].1.action, Some(EventAction::AutoRecharged));
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.count("recharge_records").await, 1);
    assert_eq!(env.count("webhook_events").await, 1);
    assert_eq!(env.kms_quota("fifty"), Some(102_000));
}

#[tokio::test]
async fn twenty_distinct_events_for_one_org_charge_once() {
    let env = spawn().await;
    let team = env.ready_org("twenty", "pm_card_visa", json!({})).await;
    let ids: Vec<String> = (0..20).map(|i| format!("evt-{i}")).collect();
    let sends = ids.iter().map(|id| env.send_limit(&team, 520.0, Some(id)));
    let answers = join_all(sends).await;
    let mut actions: Vec<&str> = answers
        .iter()
        .map(|(s, a)| {
            assert_eq!(*s, 200, "{a:?}");
            a.action.unwrap().as_str()
        })
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions.iter().filter(|a| **a == "auto_recharged").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "not_needed").count(),
        19,
        "{actions:?}"
    );
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.count("webhook_events").await, 20);
    assert_eq!(env.kms_quota("twenty"), Some(102_000));
}

#[tokio::test]
async fn concurrent_manual_recharges_with_one_key_charge_once() {
    let env = spawn().await;
    env.ready_org("manual", "pm_card_visa", json!({})).await;
    let sends = (0..10).map(|_| {
        env.http
            .post(env.app.url("/api/organizations/manual/recharge"))
            .bearer_auth(tollgate_testkit::ADMIN_TOKEN)
            .header("Idempotency-Key", "order-42")
            .json(&json!({ "amount": 25.5 }))
            .send()
    });
    let responses = join_all(sends).await;
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for r in responses {
        let r = r.unwrap();
        // The first request charges (201); copies that arrive while it runs see the same
        // record still in progress (202), later ones see it done (201, replayed).
        assert!(matches!(r.status().as_u16(), 201 | 202), "{}", r.status());
        created += usize::from(r.status() == 201);
        let status = r.status().as_u16();
        let body: RechargeAnswer = tollgate_testkit::answer(r, status).await;
        ids.insert(body.recharge.id);
    }
    assert!(created >= 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.kms_quota("manual"), Some(2_550));
    let replay = env
        .http
        .post(env.app.url("/api/organizations/manual/recharge"))
        .bearer_auth(tollgate_testkit::ADMIN_TOKEN)
        .header("Idempotency-Key", "order-42")
        .json(&json!({ "amount": 25.5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}
