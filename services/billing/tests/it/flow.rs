//! The seed's end-to-end flow and every webhook action.

use crate::support;

use billing::store::recharges::{RechargeStatus, TriggeredBy};
use billing::views::EventAction;
use billing::views::{EventView, OrganizationAnswer, PageOf};
use serde_json::json;
use support::spawn;
use support::usd;

#[tokio::test]
async fn seed_end_to_end_auto_recharge() {
    let env = spawn().await;
    env.create_org("e2e_org", json!({})).await;
    let card = env.add_card("e2e_org", "pm_card_visa").await;
    assert_eq!(card.payment_method.unwrap().last4.as_deref(), Some("4242"));
    let team = env.sync("e2e_org").await;
    assert!(team.starts_with("team_"), "{team}");
    assert_eq!(env.kms_quota("e2e_org"), Some(0));
    let org = env.org("e2e_org").await;
    assert_eq!(org.litellm_team_id.as_deref(), Some(team.as_str()));

    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200, "{answer:?}");
    assert!(answer.success);
    assert_eq!(answer.action, Some(EventAction::AutoRecharged));
    // balance = 0 credited − 520 used = −520; amount = max(200, 500 − (−520)) = 1020
    assert_eq!(answer.recharged_amount, Some(usd(1020.0)));
    assert_eq!(
        answer.recharge.as_ref().unwrap().status,
        RechargeStatus::Succeeded
    );

    let history = env.history("e2e_org").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, RechargeStatus::Succeeded);
    assert_eq!(history[0].amount, usd(1020.0));
    assert_eq!(history[0].triggered_by, TriggeredBy::Webhook);
    assert!(history[0].triggered_by_webhook);
    assert!(history[0]
        .payment_intent_id
        .as_deref()
        .unwrap()
        .starts_with("pi_"));

    assert_eq!(env.kms_quota("e2e_org"), Some(102_000));
    let org = env.org("e2e_org").await;
    assert_eq!(org.credited_total, usd(1020.0));
    assert_eq!(org.kms_quota, Some(usd(1020.0)));
    assert_eq!(env.charges().await, 1);
    let pis = env.payment_intents().await;
    assert_eq!(pis[0]["amount"], 102_000);
    assert_eq!(
        pis[0]["metadata"]["recharge_id"],
        history[0].id.to_string().as_str()
    );

    let events = env
        .admin_get("/api/organizations/e2e_org/webhook-events")
        .await;
    let events: PageOf<EventView> = tollgate_testkit::answer(events, 200).await;
    assert_eq!(events.total, 1);
    assert_eq!(events.items[0].action.as_deref(), Some("auto_recharged"));
    assert_eq!(events.items[0].recharge_id, Some(history[0].id));

    // Repeating the sync changes nothing.
    env.sync("e2e_org").await;
    assert_eq!(env.kms_quota("e2e_org"), Some(102_000));
}

#[tokio::test]
async fn usage_in_the_kms_past_the_balance_triggers_a_real_recharge() {
    let env = spawn().await;
    env.ready_org("sim_org", "pm_card_visa", json!({})).await;
    // First credit so the KMS has a limit to exceed.
    let r = env
        .admin_post(
            "/api/organizations/sim_org/recharge",
            json!({ "amount": 300 }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(env.kms_quota("sim_org"), Some(30_000));
    let add = env
        .http
        .post(format!(
            "{}/organizations/sim_org/usage",
            env.kms.base_url()
        ))
        .json(&json!({ "amount": 350 }))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 200);
    let deliveries = env
        .kms
        .wait_for_deliveries(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(deliveries.len(), 1);
    let mut delivered = None;
    for _ in 0..100 {
        delivered = env
            .kms
            .deliveries()
            .into_iter()
            .find(|d| d.status.is_some());
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let delivery = delivered.expect("the webhook was answered");
    assert_eq!(delivery.status, Some(200), "{:?}", delivery.response_body);
    // balance 300 − 350 = −50 → max(200, 500 + 50) = 550; credited 850.
    assert_eq!(env.kms_quota("sim_org"), Some(85_000));
    assert_eq!(env.charges().await, 2);
}

#[tokio::test]
async fn declined_card_is_payment_failed_and_quota_unchanged() {
    let env = spawn().await;
    let team = env
        .ready_org("declined", "pm_card_chargeCustomerFail", json!({}))
        .await;
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::PaymentFailed));
    assert_eq!(
        answer.recharge.as_ref().unwrap().status,
        RechargeStatus::PaymentFailed
    );
    assert_eq!(
        answer.recharge.as_ref().unwrap().failure_code.as_deref(),
        Some("card_declined")
    );
    assert_eq!(env.kms_quota("declined"), Some(0));
    assert_eq!(env.charges().await, 0);
    assert_eq!(env.count("credit_ledger").await, 0);
    let org = env.org("declined").await;
    assert_eq!(org.consecutive_payment_failures, 1);
    assert!(org.auto_recharge_enabled);
}

#[tokio::test]
async fn three_failures_in_a_row_switch_auto_recharge_off() {
    let env = spawn().await;
    let team = env
        .ready_org("flaky", "pm_card_chargeCustomerFail", json!({}))
        .await;
    for i in 0..3 {
        let (_, answer) = env.send_limit(&team, 520.0 + f64::from(i), None).await;
        assert_eq!(answer.action, Some(EventAction::PaymentFailed));
    }
    let org = env.org("flaky").await;
    assert!(!org.auto_recharge_enabled);
    assert!(org
        .auto_recharge_disabled_reason
        .as_deref()
        .unwrap()
        .contains("3 payment failures"));
    let (_, answer) = env.send_limit(&team, 530.0, None).await;
    assert_eq!(answer.action, Some(EventAction::None));
    // Switching it back on starts a fresh streak.
    let r = env
        .admin_patch(
            "/api/organizations/flaky",
            json!({ "auto_recharge_enabled": true }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let org = env.org("flaky").await;
    assert_eq!(org.consecutive_payment_failures, 0);
    assert!(org.auto_recharge_disabled_reason.is_none());
}

#[tokio::test]
async fn three_d_secure_card_requires_action() {
    let env = spawn().await;
    env.create_org("tds", json!({})).await;
    let pm = env.card_pm("4000002500003155").await;
    env.add_card("tds", &pm).await;
    let team = env.sync("tds").await;
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::RequiresAction));
    assert_eq!(
        answer.recharge.as_ref().unwrap().status,
        RechargeStatus::RequiresAction
    );
    assert_eq!(env.kms_quota("tds"), Some(0));
    assert_eq!(env.charges().await, 0);
}

#[tokio::test]
async fn daily_cap_is_daily_limit_reached() {
    let env = spawn().await;
    let team = env
        .ready_org(
            "capped",
            "pm_card_visa",
            json!({ "max_daily_recharges": 1 }),
        )
        .await;
    let (_, first) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(first.action, Some(EventAction::AutoRecharged));
    // Usage jumps far past the new credit (1020): a second recharge would be needed.
    let (status, second) = env.send_limit(&team, 5_000.0, None).await;
    assert_eq!(status, 200);
    assert_eq!(second.action, Some(EventAction::DailyLimitReached));
    assert_eq!(env.charges().await, 1);
    // Manual recharges are outside the cap.
    let r = env
        .admin_post(
            "/api/organizations/capped/recharge",
            json!({ "amount": 50 }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(env.charges().await, 2);
}

#[tokio::test]
async fn monthly_cap_is_monthly_limit_reached() {
    let env = spawn().await;
    let created = env
        .create_org("monthly", json!({ "max_monthly_recharge_amount": 1500 }))
        .await;
    assert_eq!(
        created.organization.max_monthly_recharge_amount,
        Some(usd(1500.0))
    );
    env.add_card("monthly", "pm_card_visa").await;
    let team = env.sync("monthly").await;
    let (_, first) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(first.action, Some(EventAction::AutoRecharged));
    let org = env.org("monthly").await;
    assert_eq!(org.automatic_recharged_this_month, usd(1020.0));
    // The next need (to 500 from 1020 - 1500 = -480: 980) would take the month to 2000.
    let (status, second) = env.send_limit(&team, 1_500.0, None).await;
    assert_eq!(status, 200, "{second:?}");
    assert_eq!(second.action, Some(EventAction::MonthlyLimitReached));
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.count("recharge_records").await, 1);
    // Manual recharges are not capped and do not count.
    let r = env
        .admin_post(
            "/api/organizations/monthly/recharge",
            json!({ "amount": 100 }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        env.org("monthly").await.automatic_recharged_this_month,
        usd(1020.0)
    );
    // Raising the cap lets the next event through; null removes it.
    let r = env
        .admin_patch(
            "/api/organizations/monthly",
            json!({ "max_monthly_recharge_amount": 2000 }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, third) = env.send_limit(&team, 1_500.0, Some("after-raise")).await;
    assert_eq!(third.action, Some(EventAction::AutoRecharged), "{third:?}");
    assert_eq!(
        third.recharged_amount,
        Some(usd(880.0)),
        "to 500 from 1120 - 1500"
    );
    let r = env
        .admin_patch(
            "/api/organizations/monthly",
            json!({ "max_monthly_recharge_amount": null }),
        )
        .await;
    let body: OrganizationAnswer = tollgate_testkit::answer(r, 200).await;
    assert_eq!(body.organization.max_monthly_recharge_amount, None);
    for bad in [json!(-1), json!("lots"), json!(10_000_000.5)] {
        let r = env
            .admin_patch(
                "/api/organizations/monthly",
                json!({ "max_monthly_recharge_amount": bad }),
            )
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn auto_recharge_off_is_none() {
    let env = spawn().await;
    let team = env
        .ready_org(
            "off",
            "pm_card_visa",
            json!({ "auto_recharge_enabled": false }),
        )
        .await;
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200);
    assert_eq!(answer.action, Some(EventAction::None));
    assert_eq!(env.charges().await, 0);
    assert_eq!(env.count("recharge_records").await, 0);
}

#[tokio::test]
async fn no_payment_method_is_no_payment_method() {
    let env = spawn().await;
    env.create_org("nocard", json!({})).await;
    let team = env.sync("nocard").await;
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200);
    assert_eq!(answer.action, Some(EventAction::NoPaymentMethod));
    assert_eq!(env.count("recharge_records").await, 0);
}

#[tokio::test]
async fn covered_balance_is_not_needed() {
    let env = spawn().await;
    let team = env.ready_org("covered", "pm_card_visa", json!({})).await;
    let r = env
        .admin_post(
            "/api/organizations/covered/recharge",
            json!({ "amount": 700 }),
        )
        .await;
    assert_eq!(r.status(), 201);
    // 700 − 520 = 180 ≥ 100
    let (_, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(answer.action, Some(EventAction::NotNeeded));
    assert_eq!(env.charges().await, 1);
}

#[tokio::test]
async fn fees_are_added_to_the_charge_not_the_credit() {
    let env = support::spawn_with(|b| {
        b.recharge_fee_percent = "2.9".into();
        b.recharge_fee_fixed = "0.30".into();
    })
    .await;
    let team = env.ready_org("fees", "pm_card_visa", json!({})).await;
    let (_, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(answer.action, Some(EventAction::AutoRecharged));
    // 1020 × 2.9 % = 29.58, + 0.30
    assert_eq!(answer.recharge.as_ref().unwrap().fee, usd(29.88));
    assert_eq!(answer.recharge.as_ref().unwrap().total_charge, usd(1049.88));
    assert_eq!(env.payment_intents().await[0]["amount"], 104_988);
    assert_eq!(env.kms_quota("fees"), Some(102_000));
}
