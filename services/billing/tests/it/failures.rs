//! Outages: the KMS failing after a successful charge (retried, then refunded), Stripe
//! unreachable, and Tollgate's own database gone.

use crate::support;

use std::time::Duration;

use billing::store::recharges::RechargeStatus;
use billing::views::EventAction;
use serde_json::json;
use sim_faults::{FaultMode, FaultRule};
use support::usd;
use support::{spawn, spawn_with};
use tollgate_domain::money::Cents;

#[tokio::test]
async fn kms_blips_are_retried_and_delivered() {
    let env = spawn().await;
    let team = env.ready_org("blip", "pm_card_visa", json!({})).await;
    env.kms.faults().push(
        FaultRule::new(FaultMode::Error)
            .path("/organizations/")
            .times(2),
    );
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::AutoRecharged));
    assert_eq!(answer.recharge.as_ref().unwrap().kms_attempts, 3);
    assert_eq!(env.kms_quota("blip"), Some(102_000));
    assert!(env.refunds().await.is_empty());
}

#[tokio::test]
async fn kms_down_past_the_budget_refunds_the_charge() {
    let env = spawn().await;
    let team = env.ready_org("kmsdown", "pm_card_visa", json!({})).await;
    env.kms
        .faults()
        .push(FaultRule::new(FaultMode::Error).path("/organizations/"));
    let (status, answer) = env.send_limit(&team, 520.0, Some("evt-kms")).await;
    assert_eq!(status, 503, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::Refunded));
    assert_eq!(answer.error.as_ref().unwrap().code, "quota_not_delivered");
    let record = answer.recharge.as_ref().unwrap();
    assert_eq!(record.status, RechargeStatus::Refunded);
    assert_eq!(record.kms_attempts, 3);
    let refund_id = record.refund_id.as_deref().unwrap();
    assert!(refund_id.starts_with("re_"));

    let refunds = env.refunds().await;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["id"], refund_id);
    assert_eq!(refunds[0]["amount"], 102_000);
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.kms_quota("kmsdown"), Some(0));
    assert_eq!(env.count("credit_ledger").await, 0);
    let org = env.org("kmsdown").await;
    assert_eq!(org.credited_total, usd(0.0));
    assert_eq!(org.pending_credit, usd(0.0));

    // A replay gets the same answer and moves no money.
    env.kms.faults().clear();
    let (status2, again) = env.send_limit(&team, 520.0, Some("evt-kms")).await;
    assert_eq!((status2, &again), (503, &answer));
    assert_eq!(env.refunds().await.len(), 1);
    assert_eq!(env.charges().await, 1);
}

/// A quota write that times out may still land after billing gave up and refunded: the KMS
/// would hold quota nobody paid for. Reconcile sets it back to the credited total (found by
/// scripts/soak.sh: 269 refunded recharges, every one of the delay slot's left its quota).
#[tokio::test]
async fn a_late_quota_write_after_a_refund_is_undone() {
    let env = spawn_with(|b| {
        b.reconcile_interval_secs = 1;
        b.reconcile_grace_secs = 1;
    })
    .await;
    let team = env.ready_org("late", "pm_card_visa", json!({})).await;
    // Every quota raise answers after 800 ms; billing waits 500 ms per attempt.
    env.kms.faults().push(
        FaultRule::new(FaultMode::Delay)
            .path("/organizations/")
            .method("PUT")
            .delay(Duration::from_millis(800)),
    );
    let (status, answer) = env.send_limit(&team, 520.0, Some("evt-late")).await;
    assert_eq!(status, 503, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::Refunded));
    assert_eq!(env.refunds().await.len(), 1);
    // The writes billing gave up on land anyway.
    let landed = tokio::time::Instant::now() + Duration::from_secs(5);
    while env.kms_quota("late") != Some(102_000) {
        assert!(
            tokio::time::Instant::now() < landed,
            "the late write never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.kms.faults().clear();
    // Done when the quota is back and the re-assert recorded (its transaction commits just
    // after the write it makes).
    let marked = "organization_balance_config WHERE kms_reassert_after IS NOT NULL";
    let undone = tokio::time::Instant::now() + Duration::from_secs(15);
    while env.kms_quota("late") != Some(0) || env.count(marked).await != 0 {
        assert!(
            tokio::time::Instant::now() < undone,
            "reconcile left quota nobody paid for: {:?}, {} re-asserts pending",
            env.kms_quota("late"),
            env.count(marked).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let org = env.org("late").await;
    assert_eq!(
        (org.credited_total, org.kms_quota),
        (Cents(0), Some(Cents(0)))
    );
    assert!(org.kms_synced_at.is_some());
    // It stays undone: nothing writes the refunded quota again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.kms_quota("late"), Some(0));
    assert_eq!(env.charges().await, 1);
}

/// A delivery waiting on the organisation's lock behind one that is giving up (reconcile
/// here) must not deliver the quota the other then refunds: one of the two outcomes, never
/// both (found by scripts/soak.sh: two recharges refunded at Stripe and delivered).
#[tokio::test]
async fn a_refund_and_a_delivery_never_both_happen() {
    let env = spawn_with(|b| {
        b.reconcile_interval_secs = 1;
        b.reconcile_grace_secs = 1;
    })
    .await;
    for i in 0..3 {
        let id = format!("race-{i}");
        let team = env.ready_org(&id, "pm_card_visa", json!({})).await;
        // The pipeline's three quota writes time out (800 ms > 500 ms); the next ones, as
        // reconcile's, go through.
        env.kms.faults().push(
            FaultRule::new(FaultMode::Delay)
                .path("/organizations/")
                .method("PUT")
                .delay(Duration::from_millis(800))
                .times(3),
        );
        let (status, answer) = env.send_limit(&team, 520.0, None).await;
        assert!(matches!(status, 200 | 503), "{status} {answer:?}");
        // Let reconcile and the late writes finish, then compare the three ledgers.
        tokio::time::sleep(Duration::from_secs(3)).await;
        env.kms.faults().clear();
        let records = env.history(&id).await;
        assert_eq!(records.len(), 1, "{records:?}");
        let refunded = records[0].status == RechargeStatus::Refunded;
        let delivered = records[0].status == RechargeStatus::Succeeded;
        assert!(refunded || delivered, "{:?}", records[0]);
        let refunds_for_it = env
            .refunds()
            .await
            .iter()
            .filter(|r| r["payment_intent"].as_str() == records[0].payment_intent_id.as_deref())
            .count();
        assert_eq!(refunds_for_it, usize::from(refunded), "{:?}", records[0]);
        let org = env.org(&id).await;
        let want = if delivered { 102_000 } else { 0 };
        assert_eq!(org.credited_total, Cents(want), "{:?}", records[0]);
    }
}

#[tokio::test]
async fn stripe_unreachable_charges_nothing_and_answers_processing() {
    // Everything but the charge goes to localstripe; the charge goes nowhere.
    let env = spawn_with(|b| b.stripe_timeout_ms = 300).await;
    let team = env.ready_org("nostripe", "pm_card_visa", json!({})).await;
    drop(env.stripe);
    let env = support::Env {
        stripe: tollgate_testkit::LocalStripe::start().await.unwrap(),
        ..env
    };
    let (status, answer) = env.send_limit(&team, 520.0, Some("evt-nostripe")).await;
    assert_eq!(status, 202, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::Processing));
    let history = env.history("nostripe").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, RechargeStatus::Pending);
    assert_eq!(env.kms_quota("nostripe"), Some(0));
    // A second, distinct event sees the pending recharge and does not charge again.
    let (_, other) = env.send_limit(&team, 520.0, Some("evt-other")).await;
    assert_eq!(other.action, Some(EventAction::NotNeeded));
    assert_eq!(env.count("recharge_records").await, 1);
}

#[tokio::test]
async fn database_down_is_503_and_charges_nothing() {
    let env = spawn().await;
    let team = env.ready_org("nodb", "pm_card_visa", json!({})).await;
    env.app.db.drop_now().await;
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 503, "{answer:?}");
    assert!(!answer.success);
    assert!(env.payment_intents().await.is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.kms_quota("nodb"), Some(0));
}
