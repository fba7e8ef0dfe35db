//! What Stripe reports after the charge call, through `POST /webhooks/stripe`: a 3DS
//! recharge completed by the card holder (localstripe's own signed
//! `payment_intent.succeeded`) is credited once however often the event comes; a failed or
//! expired one is a failure; a refund made in Stripe's dashboard lowers the credit and the
//! quota; a dispute pauses auto-recharge; and each of these, plus three declines in a row,
//! reaches the operator's alert receiver once.

use crate::support;

use std::time::Duration;

use billing::payment_events::Applied;
use billing::store::events::EventSource;
use billing::store::recharges::RechargeStatus;
use billing::views::{
    EventAction, EventView, OrganizationView, PageOf, RechargeView, StripeAnswer,
};
use serde_json::{json, Value};
use support::{spawn, spawn_with, usd, Env, STRIPE_KEY, STRIPE_WEBHOOK_SECRET};
use tollgate_testkit::answer;

const THREE_DS_CARD: &str = "4000002500003155";

/// Have localstripe send its (signed) events to billing.
async fn stripe_sends_events(env: &Env) {
    let r = env
        .http
        .post(format!(
            "{}/_config/webhooks/billing",
            env.stripe.base_url()
        ))
        .form(&[
            ("url", env.app.url("/webhooks/stripe")),
            ("secret", STRIPE_WEBHOOK_SECRET.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
}

/// POST a Stripe event signed the way Stripe signs.
async fn post_event(env: &Env, event: &Value) -> reqwest::Response {
    let body = serde_json::to_vec(event).unwrap();
    let signature =
        tollgate_stripe::sign_webhook(&body, STRIPE_WEBHOOK_SECRET, chrono::Utc::now().timestamp());
    let r = env
        .http
        .post(env.app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("Stripe-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    r
}

/// [`post_event`], answered 200.
async fn applied(env: &Env, event: &Value) -> StripeAnswer {
    answer(post_event(env, event).await, 200).await
}

async fn stripe_get(env: &Env, path: &str) -> Value {
    env.http
        .get(format!("{}{path}", env.stripe.base_url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Wait until `check` holds for the organisation, or fail after `within`.
async fn org_until(
    env: &Env,
    id: &str,
    within: Duration,
    check: impl Fn(&OrganizationView) -> bool,
) -> OrganizationView {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let org = env.org(id).await;
        if check(&org) {
            return org;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached: {org:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alerts_of(env: &Env, event: &str) -> Vec<Value> {
    env.alerts
        .received()
        .into_iter()
        .filter(|a| a["event"] == event)
        .collect()
}

/// A 3DS organisation whose limit event ended `requires_action`: (team, recharge).
async fn awaiting_3ds(env: &Env, id: &str) -> (String, RechargeView) {
    env.create_org(id, json!({})).await;
    let pm = env.card_pm(THREE_DS_CARD).await;
    env.add_card(id, &pm).await;
    let team = env.sync(id).await;
    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(
        answer.action,
        Some(EventAction::RequiresAction),
        "{answer:?}"
    );
    (team, answer.recharge.expect("the waiting recharge"))
}

#[tokio::test]
async fn a_3ds_recharge_completed_by_the_holder_is_credited_once() {
    let env = spawn().await;
    stripe_sends_events(&env).await;
    let (team, recharge) = awaiting_3ds(&env, "tds_ok").await;
    // What the holder must do is in the API.
    let next = recharge.next_action.as_ref().expect("next_action");
    assert_eq!(next["type"], "authenticate", "{recharge:?}");
    assert_eq!(next["stripe_next_action"]["type"], "use_stripe_sdk");
    assert!(recharge.action_expires_at.is_some());
    let intent = recharge.payment_intent_id.clone().unwrap();
    assert_eq!(next["payment_intent_id"], intent.as_str());
    let history = env.history("tds_ok").await;
    assert_eq!(history[0].next_action.as_ref(), Some(next));
    // Not counted as a failure, and it holds the need: no second charge meanwhile.
    assert_eq!(env.org("tds_ok").await.consecutive_payment_failures, 0);
    let (_, again) = env.send_limit(&team, 530.0, None).await;
    assert_eq!(again.action, Some(EventAction::NotNeeded), "{again:?}");
    assert_eq!(env.payment_intents().await.len(), 1);
    let alerts = env
        .alerts
        .wait_for("payment_action_required", Duration::from_secs(10))
        .await;
    let action = alerts
        .iter()
        .find(|a| a["event"] == "payment_action_required")
        .expect("payment_action_required alert");
    assert_eq!(action["organization_id"], "tds_ok");
    assert_eq!(action["payment_intent_id"], intent.as_str());
    assert!(action["text"].as_str().unwrap().contains("3-D Secure"));

    // The holder authenticates; localstripe charges and sends payment_intent.succeeded.
    let pi = stripe_get(&env, &format!("/v1/payment_intents/{intent}")).await;
    let r = env
        .http
        .post(format!(
            "{}/v1/payment_intents/{intent}/_authenticate",
            env.stripe.base_url()
        ))
        .basic_auth(STRIPE_KEY, Some(""))
        .form(&[
            ("client_secret", pi["client_secret"].as_str().unwrap()),
            ("success", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let org = org_until(&env, "tds_ok", Duration::from_secs(15), |o| {
        o.credited_total == usd(1020.0)
    })
    .await;
    assert_eq!(org.kms_quota, Some(usd(1020.0)));
    assert_eq!(env.kms_quota("tds_ok"), Some(102_000));
    assert_eq!(env.charges().await, 1);
    let history = env.history("tds_ok").await;
    assert_eq!(history[0].status, RechargeStatus::Succeeded);

    // The same event again, and copies at once: credited once.
    let r = env
        .admin_get("/api/organizations/tds_ok/webhook-events")
        .await;
    let stored: PageOf<EventView> = answer(r, 200).await;
    let from_stripe: Vec<&EventView> = stored
        .items
        .iter()
        .filter(|e| e.source == EventSource::Stripe)
        .collect();
    assert_eq!(from_stripe.len(), 1, "{stored:?}");
    assert_eq!(from_stripe[0].event_type, "payment_intent.succeeded");
    assert_eq!(from_stripe[0].action.as_deref(), Some("credited"));
    let (client, conn) = tokio_postgres::connect(env.app.db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT payload::text, action FROM webhook_events \
             WHERE source = 'stripe' AND event_type = 'payment_intent.succeeded' \
               AND payload->'data'->'object'->>'id' = $1",
            &[&intent],
        )
        .await
        .unwrap();
    let event: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("credited"));
    let copies = futures_util::future::join_all((0..3).map(|_| post_event(&env, &event))).await;
    for res in copies {
        let status = res.status().as_u16();
        assert!(status == 200 || status == 503, "{:?}", res.text().await);
    }
    let replay = applied(&env, &event).await;
    assert_eq!(replay.action, Some(Applied::Credited));
    // The same payment reported under a new event id (Stripe's retries keep the id; a
    // second event would not): still credited once.
    let mut twin = event.clone();
    twin["id"] = json!("evt_twin_of_succeeded");
    let twin_answer = applied(&env, &twin).await;
    assert_eq!(twin_answer.action, Some(Applied::Ignored));
    assert_eq!(env.org("tds_ok").await.credited_total, usd(1020.0));
    assert_eq!(env.count("credit_ledger").await, 1);
}

#[tokio::test]
async fn a_failed_3ds_is_a_failure_and_an_unfinished_one_expires() {
    let env = spawn_with(|b| {
        b.requires_action_expiry_secs = 1;
        b.reconcile_interval_secs = 1;
    })
    .await;
    let (_, failed) = awaiting_3ds(&env, "tds_fail").await;
    let intent = failed.payment_intent_id.as_deref().unwrap();
    let event = json!({
        "id": "evt_3ds_failed",
        "object": "event",
        "type": "payment_intent.payment_failed",
        "data": { "object": {
            "id": intent, "object": "payment_intent", "status": "requires_payment_method",
            "metadata": { "recharge_id": failed.id },
            "last_payment_error": { "code": "payment_intent_authentication_failure",
                                    "message": "The provided PaymentMethod has failed authentication." },
        }},
    });
    applied(&env, &event).await;
    // Reconcile may have expired it first (1 s): either way it ended, once, as a failure.
    let history = env.history("tds_fail").await;
    assert!(
        [RechargeStatus::PaymentFailed, RechargeStatus::Canceled].contains(&history[0].status),
        "{history:?}"
    );
    assert_eq!(env.org("tds_fail").await.consecutive_payment_failures, 1);

    // Another 3DS charge nobody completes: canceled at Stripe and here once it expires.
    let (_, waiting) = awaiting_3ds(&env, "tds_expire").await;
    let intent = waiting.payment_intent_id.clone().unwrap();
    let org = org_until(&env, "tds_expire", Duration::from_secs(10), |o| {
        o.consecutive_payment_failures == 1
    })
    .await;
    assert_eq!(org.credited_total, usd(0.0));
    let history = env.history("tds_expire").await;
    assert_eq!(history[0].status, RechargeStatus::Canceled);
    assert_eq!(history[0].failure_code.as_deref(), Some("action_expired"));
    let pi = stripe_get(&env, &format!("/v1/payment_intents/{intent}")).await;
    assert_eq!(pi["status"], "canceled", "{pi}");
}

#[tokio::test]
async fn three_declines_in_a_row_switch_auto_recharge_off_with_one_alert() {
    let env = spawn().await;
    let team = env
        .ready_org("declines", "pm_card_chargeCustomerFail", json!({}))
        .await;
    for (i, usage) in [520.0, 530.0, 540.0, 550.0].into_iter().enumerate() {
        let (_, answer) = env
            .send_limit(&team, usage, Some(&format!("decline-{i}")))
            .await;
        let expected = if i < 3 {
            EventAction::PaymentFailed
        } else {
            EventAction::None
        };
        assert_eq!(answer.action, Some(expected), "{answer:?}");
    }
    let org = env.org("declines").await;
    assert!(!org.auto_recharge_enabled);
    env.alerts
        .wait_for("auto_recharge_disabled", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let disabled = alerts_of(&env, "auto_recharge_disabled");
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["organization_id"], "declines");
    assert_eq!(disabled[0]["failures"], 3);
}

/// An organisation auto-recharged once (1020 credited): (team, payment intent).
async fn recharged(env: &Env, id: &str) -> (String, String) {
    let team = env.ready_org(id, "pm_card_visa", json!({})).await;
    let (_, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(
        answer.action,
        Some(EventAction::AutoRecharged),
        "{answer:?}"
    );
    let intent = answer.recharge.unwrap().payment_intent_id.unwrap();
    (team, intent)
}

fn refunded_event(id: &str, intent: &str, amount_refunded: i64) -> Value {
    json!({
        "id": id,
        "object": "event",
        "type": "charge.refunded",
        "data": { "object": {
            "id": "ch_dashboard", "object": "charge", "payment_intent": intent,
            "amount": 102_000, "amount_refunded": amount_refunded, "refunded": amount_refunded == 102_000,
        }},
    })
}

#[tokio::test]
async fn a_refund_made_in_stripes_dashboard_lowers_the_credit_and_the_quota() {
    let env = spawn().await;
    let (_, intent) = recharged(&env, "dash").await;
    assert_eq!(env.kms_quota("dash"), Some(102_000));
    // The operator refunds $300 in the dashboard (localstripe takes the refund but sends no
    // event: the test sends the one Stripe would).
    let r = env
        .http
        .post(format!("{}/v1/refunds", env.stripe.base_url()))
        .basic_auth(STRIPE_KEY, Some(""))
        .form(&[("payment_intent", intent.as_str()), ("amount", "30000")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let first = applied(&env, &refunded_event("evt_refund_1", &intent, 30_000)).await;
    assert_eq!(first.action, Some(Applied::CreditLowered));
    let org = env.org("dash").await;
    assert_eq!(org.credited_total, usd(720.0));
    assert_eq!(org.kms_quota, Some(usd(720.0)));
    assert_eq!(env.kms_quota("dash"), Some(72_000));
    assert_eq!(env.history("dash").await[0].refunded_amount, usd(300.0));
    // Replayed: the same answer, nothing more taken.
    let replay = applied(&env, &refunded_event("evt_refund_1", &intent, 30_000)).await;
    assert_eq!(replay, first);
    // The rest refunded later (cumulative): the whole credit is gone.
    let rest = applied(&env, &refunded_event("evt_refund_2", &intent, 102_000)).await;
    assert_eq!(rest.action, Some(Applied::CreditLowered), "{rest:?}");
    assert_eq!(env.org("dash").await.credited_total, usd(0.0));
    assert_eq!(env.kms_quota("dash"), Some(0));
    // An older event arriving late changes nothing.
    let late = applied(&env, &refunded_event("evt_refund_0", &intent, 10_000)).await;
    assert_eq!(late.action, Some(Applied::Ignored));
    assert_eq!(env.org("dash").await.credited_total, usd(0.0));
    env.alerts.wait_for("refund", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        alerts_of(&env, "refund").len(),
        2,
        "{:?}",
        env.alerts.received()
    );
}

#[tokio::test]
async fn a_dispute_pauses_auto_recharge_until_an_admin_resumes_it() {
    let env = spawn().await;
    env.alerts.fail_next(2);
    let (team, intent) = recharged(&env, "disputed").await;
    let dispute = json!({
        "id": "evt_dispute_1",
        "object": "event",
        "type": "charge.dispute.created",
        "data": { "object": {
            "id": "dp_1", "object": "dispute", "charge": "ch_1", "payment_intent": intent,
            "amount": 102_000, "reason": "fraudulent", "status": "needs_response",
        }},
    });
    assert_eq!(applied(&env, &dispute).await.action, Some(Applied::Paused));
    let org = env.org("disputed").await;
    let reason = org.auto_recharge_paused_reason.as_deref().unwrap();
    assert!(
        reason.contains("fraudulent") && reason.contains("dp_1"),
        "{reason}"
    );
    assert!(env.history("disputed").await[0].disputed_at.is_some());
    let (_, paused) = env.send_limit(&team, 2_000.0, Some("while-paused")).await;
    assert_eq!(paused.action, Some(EventAction::Paused));
    assert_eq!(env.charges().await, 1);
    // The same dispute reported again (a new event id): one alert all the same. The
    // receiver fails twice first: the alert still arrives, once.
    let mut again = dispute.clone();
    again["id"] = json!("evt_dispute_1_again");
    post_event(&env, &again).await;
    let alerts = env
        .alerts
        .wait_for("dispute", Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let disputes = alerts_of(&env, "dispute");
    assert_eq!(disputes.len(), 1, "{alerts:?}");
    assert_eq!(disputes[0]["dispute_id"], "dp_1");
    assert_eq!(disputes[0]["amount"], 1020.0);
    // An admin switches it back on.
    let r = env
        .admin_patch(
            "/api/organizations/disputed",
            json!({ "auto_recharge_enabled": true }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(env
        .org("disputed")
        .await
        .auto_recharge_paused_reason
        .is_none());
    // A sender delivers again while the answer is "processing" (202), as a busy machine
    // may give the first delivery.
    let mut resumed = env.send_limit(&team, 2_000.0, Some("resumed")).await.1;
    for _ in 0..50 {
        if resumed.action != Some(EventAction::Processing) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        resumed = env.send_limit(&team, 2_000.0, Some("resumed")).await.1;
    }
    assert_eq!(
        resumed.action,
        Some(EventAction::AutoRecharged),
        "{resumed:?}"
    );
}

#[tokio::test]
async fn an_undeliverable_quota_alerts_the_refund_and_the_backend_once() {
    let env = spawn().await;
    let team = env
        .ready_org("undelivered", "pm_card_visa", json!({}))
        .await;
    env.kms.faults().push(
        sim_faults::FaultRule::new(sim_faults::FaultMode::Error)
            .status(503)
            .path("/organizations/"),
    );
    let (status, answer) = env.send_limit(&team, 520.0, Some("evt-undelivered")).await;
    assert_eq!(status, 503, "{answer:?}");
    env.alerts.wait_for("refund", Duration::from_secs(10)).await;
    env.alerts
        .wait_for("quota_backend_unreachable", Duration::from_secs(10))
        .await;
    // A replay of the event answers the same and alerts nothing new.
    env.send_limit(&team, 520.0, Some("evt-undelivered")).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(alerts_of(&env, "refund").len(), 1);
    let unreachable = alerts_of(&env, "quota_backend_unreachable");
    assert_eq!(unreachable.len(), 1);
    assert_eq!(unreachable[0]["organization_id"], "undelivered");
    assert_eq!(unreachable[0]["total_charge"], 1020.0);
}
