//! The org API: auth, validation (a clear JSON error and no state change), payment methods,
//! sync, manual recharges, paging.

use crate::support;

use billing::store::recharges::{RechargeStatus, TriggeredBy};
use billing::views::{
    EventAction, EventView, OrganizationList, PageOf, RechargeAnswer, RechargeView,
};
use serde_json::json;
use support::spawn;
use support::usd;
use tollgate_testkit::{answer, error_code, ADMIN_TOKEN};

#[tokio::test]
async fn every_route_needs_the_admin_token() {
    let env = spawn().await;
    env.create_org("authz", json!({})).await;
    let routes = [
        ("GET", "/api/organizations"),
        ("POST", "/api/organizations"),
        ("GET", "/api/organizations/authz"),
        ("PATCH", "/api/organizations/authz"),
        ("POST", "/api/organizations/authz/payment-method"),
        ("POST", "/api/organizations/authz/sync"),
        ("POST", "/api/organizations/authz/recharge"),
        ("GET", "/api/organizations/authz/recharge-history"),
        ("GET", "/api/organizations/authz/webhook-events"),
    ];
    for (method, path) in routes {
        for token in [None, Some("wrong-token")] {
            let mut req = env
                .http
                .request(method.parse().unwrap(), env.app.url(path))
                .json(&json!({ "amount": 10, "payment_method_id": "pm_card_visa", "c_organization_id": "x" }));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            let got = error_code(r, 401).await;
            assert_eq!(got, "unauthorized", "{method} {path} {token:?}");
        }
    }
    assert_eq!(env.count("organization_balance_config").await, 1);
    assert!(env.payment_intents().await.is_empty());
}

#[tokio::test]
async fn create_read_update() {
    let env = spawn().await;
    let created = env
        .create_org("org-1", json!({ "minimum_balance": 12.5 }))
        .await;
    let org = &created.organization;
    assert_eq!(org.c_organization_id, "org-1");
    assert_eq!(org.minimum_balance, usd(12.5));
    assert_eq!(org.target_balance, usd(500.0));
    assert_eq!(org.max_daily_recharges, 5);
    assert_eq!(org.credited_total, usd(0.0));
    assert!(org.litellm_team_id.is_none());

    let r = env
        .admin_post(
            "/api/organizations",
            json!({ "c_organization_id": "org-1" }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "organization_exists");

    let r = env
        .admin_patch(
            "/api/organizations/org-1",
            json!({ "target_balance": "750.25", "max_daily_recharges": 2 }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let org = env.org("org-1").await;
    assert_eq!(org.target_balance, usd(750.25));
    assert_eq!(org.max_daily_recharges, 2);
    assert_eq!(org.minimum_balance, usd(12.5));

    let list: OrganizationList = env.admin_read("/api/organizations").await;
    assert_eq!(list.total, 1);
    assert_eq!(list.items[0].c_organization_id, "org-1");
}

#[tokio::test]
async fn invalid_settings_are_400_and_change_nothing() {
    let env = spawn().await;
    env.create_org("valid", json!({})).await;
    let before = env.org("valid").await;
    let bad_creates = [
        (
            json!({ "c_organization_id": "a", "minimum_balance": 600, "target_balance": 500 }),
            "invalid_settings",
        ),
        (
            json!({ "c_organization_id": "a", "minimum_balance": -1 }),
            "invalid_amount",
        ),
        (
            json!({ "c_organization_id": "a", "minimum_balance": 1.001 }),
            "invalid_body",
        ),
        (
            json!({ "c_organization_id": "a", "minimum_balance": "ten" }),
            "invalid_body",
        ),
        (
            json!({ "c_organization_id": "a", "max_daily_recharges": -1 }),
            "invalid_settings",
        ),
        (
            json!({ "c_organization_id": "a", "max_daily_recharges": "5" }),
            "invalid_body",
        ),
        (
            json!({ "c_organization_id": "has space" }),
            "invalid_organization_id",
        ),
        (
            json!({ "c_organization_id": "" }),
            "invalid_organization_id",
        ),
        (
            json!({ "c_organization_id": "a".repeat(129) }),
            "invalid_organization_id",
        ),
        (
            json!({ "c_organization_id": "a", "surprise": true }),
            "invalid_body",
        ),
        (json!({ "minimum_balance": 1 }), "invalid_body"),
        (json!([1, 2]), "invalid_body"),
    ];
    for (body, expected) in bad_creates {
        let r = env.admin_post("/api/organizations", body.clone()).await;
        assert_eq!(error_code(r, 400).await, expected, "{body}");
    }
    let r = env
        .http
        .post(env.app.url("/api/organizations"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"c_organization_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_json");
    let r = env
        .http
        .post(env.app.url("/api/organizations"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"c_organization_id\":\"{}\"}}",
            "x".repeat(100 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    for body in [
        json!({ "minimum_balance": 2000 }), // above the stored target 500
        json!({ "target_balance": 50 }),    // below the stored minimum 100
        json!({ "minimum_recharge_amount": -5 }),
        json!({ "auto_recharge_enabled": "yes" }),
    ] {
        let r = env
            .admin_patch("/api/organizations/valid", body.clone())
            .await;
        assert_eq!(r.status(), 400, "{body}");
    }
    assert_eq!(env.count("organization_balance_config").await, 1);
    let after = env.org("valid").await;
    assert_eq!(before.minimum_balance, after.minimum_balance);
    assert_eq!(before.target_balance, after.target_balance);
    assert_eq!(before.updated_at, after.updated_at);
}

#[tokio::test]
async fn unknown_organisations_are_404() {
    let env = spawn().await;
    for (method, path, body) in [
        ("GET", "/api/organizations/ghost", json!({})),
        (
            "PATCH",
            "/api/organizations/ghost",
            json!({ "minimum_balance": 1 }),
        ),
        (
            "POST",
            "/api/organizations/ghost/payment-method",
            json!({ "payment_method_id": "pm_card_visa" }),
        ),
        ("POST", "/api/organizations/ghost/sync", json!({})),
        (
            "POST",
            "/api/organizations/ghost/recharge",
            json!({ "amount": 10 }),
        ),
        (
            "GET",
            "/api/organizations/ghost/recharge-history",
            json!({}),
        ),
        ("GET", "/api/organizations/ghost/webhook-events", json!({})),
    ] {
        let r = env
            .http
            .request(method.parse().unwrap(), env.app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r, 404).await, "not_found");
    }
    assert!(env.kms.organization("ghost").is_none());
    assert!(env.payment_intents().await.is_empty());
}

#[tokio::test]
async fn payment_methods() {
    let env = spawn().await;
    env.create_org("cards", json!({})).await;
    // A card declined at attach time, and an id Stripe does not know.
    for (pm, expected) in [
        ("pm_card_visa_chargeDeclined", "payment_method_declined"),
        ("pm_does_not_exist", "invalid_payment_method"),
        ("not a pm!", "invalid_payment_method"),
    ] {
        let r = env
            .admin_post(
                "/api/organizations/cards/payment-method",
                json!({ "payment_method_id": pm }),
            )
            .await;
        assert_eq!(error_code(r, 400).await, expected, "{pm}");
    }
    assert!(env.org("cards").await.payment_method.is_none());
    let first = env.add_card("cards", "pm_card_visa").await;
    let customer = first.organization.stripe_customer_id.clone().unwrap();
    let pm1 = first.payment_method.as_ref().unwrap().id.clone();
    assert!(customer.starts_with("cus_"));
    assert_eq!(first.organization.payment_method.unwrap().id, pm1);
    // A second card: same customer, new default.
    let second = env.add_card("cards", "pm_card_visa").await;
    assert_eq!(second.organization.stripe_customer_id, Some(customer));
    assert_ne!(second.organization.payment_method.as_ref().unwrap().id, pm1);
    // Attach without making it the default.
    let r = env
        .admin_post(
            "/api/organizations/cards/payment-method",
            json!({ "payment_method_id": "pm_card_visa", "set_as_default": false }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.org("cards").await.payment_method.as_ref().unwrap().id,
        second.organization.payment_method.as_ref().unwrap().id
    );
    let r = env
        .admin_post(
            "/api/organizations/cards/payment-method",
            json!({ "set_as_default": true }),
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn sync_creates_then_sets_and_is_repeatable() {
    let env = spawn().await;
    env.create_org("synced", json!({})).await;
    let team = env.sync("synced").await;
    assert_eq!(env.kms.organization("synced").unwrap().l_team_id, team);
    assert_eq!(env.kms_quota("synced"), Some(0));
    // Someone changed the quota in the KMS: sync sets it back to the credited total.
    env.http
        .put(format!("{}/organizations/synced/quota", env.kms.base_url()))
        .json(&json!({ "new_quota": 999 }))
        .send()
        .await
        .unwrap();
    assert_eq!(env.sync("synced").await, team);
    assert_eq!(env.kms_quota("synced"), Some(0));
    // The KMS down: 503, nothing stored.
    env.kms
        .faults()
        .push(sim_faults::FaultRule::new(sim_faults::FaultMode::Error));
    let r = env
        .admin_post("/api/organizations/synced/sync", json!({}))
        .await;
    assert_eq!(error_code(r, 503).await, "unavailable");
}

#[tokio::test]
async fn manual_recharges() {
    let env = spawn().await;
    env.create_org("manual", json!({})).await;
    let r = env
        .admin_post(
            "/api/organizations/manual/recharge",
            json!({ "amount": 10 }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "no_payment_method");
    env.add_card("manual", "pm_card_visa").await;
    for bad in [
        json!({ "amount": 0 }),
        json!({ "amount": -3 }),
        json!({ "amount": 1.234 }),
        json!({ "amount": "x" }),
        json!({}),
        json!({ "amount": 2_000_000 }),
    ] {
        let r = env
            .admin_post("/api/organizations/manual/recharge", bad.clone())
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(env.count("recharge_records").await, 0);
    // Never synced: delivery creates the KMS organisation with the credited total.
    let r = env
        .admin_post(
            "/api/organizations/manual/recharge",
            json!({ "amount": 12.34 }),
        )
        .await;
    let body: RechargeAnswer = answer(r, 201).await;
    assert_eq!(body.recharge.status, RechargeStatus::Succeeded);
    assert_eq!(body.recharge.triggered_by, TriggeredBy::Manual);
    assert_eq!(body.recharge.amount, usd(12.34));
    assert_eq!(body.recharged_amount, Some(usd(12.34)));
    assert_eq!(env.kms_quota("manual"), Some(1_234));
    assert!(env.org("manual").await.litellm_team_id.as_deref().is_some());
    // A declined card: 402, nothing credited.
    env.add_card("manual", "pm_card_chargeCustomerFail").await;
    let r = env
        .admin_post("/api/organizations/manual/recharge", json!({ "amount": 5 }))
        .await;
    let body: RechargeAnswer = answer(r, 402).await;
    assert!(!body.success);
    assert_eq!(body.error.unwrap().code, "payment_failed");
    assert_eq!(body.recharge.status, RechargeStatus::PaymentFailed);
    assert_eq!(env.kms_quota("manual"), Some(1_234));
    let r = env
        .http
        .post(env.app.url("/api/organizations/manual/recharge"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "")
        .json(&json!({ "amount": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_idempotency_key");
}

#[tokio::test]
async fn history_and_events_are_paged_newest_first() {
    let env = spawn().await;
    let team = env
        .ready_org("paged", "pm_card_visa", json!({ "max_daily_recharges": 0 }))
        .await;
    for amount in [1, 2, 3] {
        let r = env
            .admin_post(
                "/api/organizations/paged/recharge",
                json!({ "amount": amount }),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    for i in 0..3 {
        let (_, answer) = env
            .send_limit(&team, 10_000.0, Some(&format!("evt-{i}")))
            .await;
        assert_eq!(answer.action, Some(EventAction::DailyLimitReached));
    }
    let page: PageOf<RechargeView> = env
        .admin_read("/api/organizations/paged/recharge-history?page=1&page_size=2")
        .await;
    assert_eq!((page.total, page.items.len()), (3, 2));
    assert_eq!(page.items[0].amount, usd(3.0));
    let page2: PageOf<RechargeView> = env
        .admin_read("/api/organizations/paged/recharge-history?page=2&page_size=2")
        .await;
    assert_eq!(page2.items[0].amount, usd(1.0));
    let events: PageOf<EventView> = env
        .admin_read("/api/organizations/paged/webhook-events?page_size=2")
        .await;
    assert_eq!(events.total, 3);
    assert_eq!(events.items[0].event_id, "evt-2");
    assert_eq!(
        events.items[0].action.as_deref(),
        Some("daily_limit_reached")
    );
    for q in ["page=0", "page_size=0", "page_size=101", "page=x"] {
        let r = env
            .admin_get(&format!("/api/organizations/paged/recharge-history?{q}"))
            .await;
        assert_eq!(error_code(r, 400).await, "invalid_query", "{q}");
        let r = env
            .admin_get(&format!("/api/organizations/paged/webhook-events?{q}"))
            .await;
        assert_eq!(error_code(r, 400).await, "invalid_query", "{q}");
    }
}
