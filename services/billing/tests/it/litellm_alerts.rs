//! LiteLLM's own budget alerts as a trigger (`POST /webhooks/litellm/budget?token=…`), on a
//! stock LiteLLM proxy (litellm-sim): the alert a rejected request raises recharges the
//! team's organisation once and raises `max_budget` to the new credited total; teams can be
//! adopted; a wrong token, a malformed body or an unknown team change nothing; other events
//! are ignored; an identical body is a replay only within the window.

use crate::support;

use std::net::TcpListener;
use std::time::Duration;

use billing::settings::QuotaBackend;
use billing::store::events::EventSource;
use billing::store::recharges::{RechargeStatus, TriggeredBy};
use billing::views::{EventAction, EventAnswer, EventView, PageOf};
use litellm_sim::{Request, SimConfig, SimHandle};
use serde_json::json;
use support::usd;
use support::{alert_body, spawn_with, Env, ALERT_TOKEN};
use tollgate_testkit::error_code;

const MASTER: &str = "sk-litellm-master-test";

/// billing on litellm-sim, whose alerts go to billing's alert URL.
async fn on_litellm() -> (Env, SimHandle) {
    on_litellm_with(|_| {}).await
}

async fn on_litellm_with(
    tweak: impl FnOnce(&mut billing::settings::BillingSettings) + Send + 'static,
) -> (Env, SimHandle) {
    let litellm = litellm_sim::spawn(
        SimConfig::new(MASTER, None),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .unwrap();
    let url = litellm.base_url().to_owned();
    let env = spawn_with(move |b| {
        b.quota_backend = QuotaBackend::Litellm;
        b.kms_base_url = String::new();
        b.litellm_base_url = Some(url);
        b.litellm_master_key = Some(MASTER.into());
        tweak(b);
    })
    .await;
    litellm.set_webhook_url(Some(env.alert_url(ALERT_TOKEN)));
    (env, litellm)
}

/// Spend `amount` on `team` until LiteLLM rejects a request and its alert is settled.
async fn spend_past_budget(litellm: &SimHandle, team: &str, amount: f64) {
    assert!(
        matches!(litellm.request(team, amount), Request::Served(_)),
        "the request that crosses the budget is served"
    );
    let rejected = litellm.request(team, 1.0);
    assert!(matches!(rejected, Request::Rejected { .. }), "{rejected:?}");
    let alerts = litellm.wait_for_alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
}

async fn create_team(env: &Env, litellm: &SimHandle, team: &str, max_budget: f64) {
    let r = env
        .http
        .post(format!("{}/team/new", litellm.base_url()))
        .bearer_auth(MASTER)
        .json(&json!({ "team_id": team, "team_alias": "theirs", "max_budget": max_budget }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

#[tokio::test]
async fn litellms_alert_recharges_once_and_raises_the_team_budget() {
    let (env, litellm) = on_litellm().await;
    let team = env.ready_org("lt_alert", "pm_card_visa", json!({})).await;
    assert_eq!(litellm.team(&team).unwrap().max_budget, Some(0.0));

    spend_past_budget(&litellm, &team, 520.0).await;
    let alert = &litellm.alerts()[0];
    assert_eq!(alert.state, litellm_sim::AlertState::Delivered, "{alert:?}");

    assert_eq!(env.charges().await, 1);
    let history = env.history("lt_alert").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].triggered_by, TriggeredBy::LitellmAlert);
    assert_eq!(history[0].status, RechargeStatus::Succeeded);
    assert_eq!(history[0].amount, usd(1020.0));
    assert_eq!(env.org("lt_alert").await.credited_total, usd(1020.0));
    assert_eq!(litellm.team(&team).unwrap().max_budget, Some(1020.0));
    // The team works again.
    assert!(matches!(litellm.request(&team, 10.0), Request::Served(_)));

    let events: PageOf<EventView> = env
        .admin_read("/api/organizations/lt_alert/webhook-events")
        .await;
    assert_eq!(events.total, 1, "{events:?}");
    let event = &events.items[0];
    assert_eq!(event.source, EventSource::LitellmAlert);
    assert_eq!(event.event_type, "budget_crossed");
    assert_eq!(event.action.as_deref(), Some("auto_recharged"));
    let stored: EventAnswer = serde_json::from_value(event.response.clone().unwrap()).unwrap();
    assert_eq!(stored.recharged_amount, Some(usd(1020.0)));
}

#[tokio::test]
async fn an_adopted_team_is_synced_and_topped_up_the_same_way() {
    let (env, litellm) = on_litellm().await;
    create_team(&env, &litellm, "their-team", 5.0).await;
    let org = env
        .create_org("lt_adopt", json!({ "litellm_team_id": "their-team" }))
        .await;
    assert_eq!(
        org.organization.litellm_team_id.as_deref(),
        Some("their-team")
    );
    assert_eq!(org.organization.quota_backend, QuotaBackend::Litellm);
    env.add_card("lt_adopt", "pm_card_visa").await;
    assert_eq!(env.sync("lt_adopt").await, "their-team");
    let held = litellm.team("their-team").unwrap();
    assert_eq!((held.max_budget, held.budget_duration), (Some(0.0), None));
    assert!(litellm.team("lt_adopt").is_none(), "no second team");

    // Another organisation cannot take the same team, at creation or by its own id.
    let r = env
        .admin_post(
            "/api/organizations",
            json!({ "c_organization_id": "lt_other", "litellm_team_id": "their-team" }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "team_taken");
    env.create_org("their-team", json!({})).await;
    let r = env
        .admin_post("/api/organizations/their-team/sync", json!({}))
        .await;
    assert_eq!(error_code(r, 409).await, "team_taken");

    // A team that does not exist is not created under the adopted name.
    env.create_org("lt_typo", json!({ "litellm_team_id": "no-such-team" }))
        .await;
    let r = env
        .admin_post("/api/organizations/lt_typo/sync", json!({}))
        .await;
    assert_eq!(error_code(r, 409).await, "team_not_found");
    assert!(litellm.team("no-such-team").is_none());

    spend_past_budget(&litellm, "their-team", 520.0).await;
    assert_eq!(env.charges().await, 1);
    assert_eq!(litellm.team("their-team").unwrap().max_budget, Some(1020.0));
    assert_eq!(env.org("lt_adopt").await.credited_total, usd(1020.0));
}

#[tokio::test]
async fn adopting_a_team_is_refused_on_the_kms_backend() {
    let env = support::spawn().await;
    let r = env
        .admin_post(
            "/api/organizations",
            json!({ "c_organization_id": "k1", "litellm_team_id": "t" }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "team_adoption_unsupported");
    assert_eq!(env.count("organization_balance_config").await, 0);
}

#[tokio::test]
async fn bad_tokens_malformed_alerts_and_other_events_change_nothing() {
    let (env, _litellm) = on_litellm().await;
    let team = env.ready_org("lt_bad", "pm_card_visa", json!({})).await;
    let crossed = alert_body(&team, "budget_crossed", "team", 520.0);

    for token in ["wrong-token-0123456789abcdef", ""] {
        let (status, body) = env.send_alert(token, &crossed).await;
        assert_eq!(status, 401, "{body:?}");
        assert_eq!(body.error.as_ref().unwrap().code, "unauthorized");
    }
    let r = env
        .http
        .post(env.app.url("/webhooks/litellm/budget"))
        .json(&crossed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    for (event, group) in [
        ("spend_tracked", "team"),
        ("budget_crossed", "key"),
        ("budget_crossed", "user"),
        ("soft_budget_crossed", "team"),
    ] {
        let (status, body) = env
            .send_alert(ALERT_TOKEN, &alert_body(&team, event, group, 520.0))
            .await;
        assert_eq!(status, 200, "{body:?}");
        assert!(body.ignored, "{event}/{group}: {body:?}");
    }

    let mut no_spend = crossed.clone();
    no_spend.as_object_mut().unwrap().remove("spend");
    for (body, code) in [
        (json!([]), "invalid_body"),
        (no_spend, "invalid_body"),
        (
            alert_body(&team, "budget_crossed", "team", -1.0),
            "invalid_body",
        ),
    ] {
        let (status, answer) = env.send_alert(ALERT_TOKEN, &body).await;
        assert_eq!(
            (status, answer.error.as_ref().unwrap().code.as_str()),
            (400, code)
        );
    }
    let r = env
        .http
        .post(env.alert_url(ALERT_TOKEN))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_json");

    let (status, body) = env
        .send_alert(
            ALERT_TOKEN,
            &alert_body("nobodys-team", "budget_crossed", "team", 520.0),
        )
        .await;
    assert_eq!(status, 404, "{body:?}");

    assert_eq!(env.count("webhook_events").await, 0);
    assert_eq!(env.count("recharge_records").await, 0);
    assert_eq!(env.charges().await, 0);
}

#[tokio::test]
async fn an_identical_alert_is_a_replay_within_the_window_and_decided_afresh_after_it() {
    let (env, _litellm) = on_litellm_with(|b| b.litellm_alert_replay_secs = 1).await;
    let team = env.ready_org("lt_replay", "pm_card_visa", json!({})).await;
    let crossed = alert_body(&team, "budget_crossed", "team", 520.0);
    let (status, first) = env.send_alert(ALERT_TOKEN, &crossed).await;
    assert_eq!(status, 200, "{first:?}");
    assert_eq!(first.action, Some(EventAction::AutoRecharged));
    let (status, again) = env.send_alert(ALERT_TOKEN, &crossed).await;
    assert_eq!(
        (status, &again),
        (200, &first),
        "a replay gets the first answer"
    );
    assert_eq!(env.count("webhook_events").await, 1);
    assert_eq!(env.charges().await, 1);

    // LiteLLM sends the same body again once its silence ends (here the replay window is
    // a second): a new event, decided by the balance, which the first recharge covers.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, later) = env.send_alert(ALERT_TOKEN, &crossed).await;
    assert_eq!(status, 200, "{later:?}");
    assert_eq!(
        later.action,
        Some(EventAction::NotNeeded),
        "{later:?} / first {first:?}"
    );
    assert_ne!(later.event_id, first.event_id);
    assert_eq!(env.count("webhook_events").await, 2);
    assert_eq!(env.charges().await, 1);

    // A higher spend in a new alert is a new need.
    let (_, more) = env
        .send_alert(
            ALERT_TOKEN,
            &alert_body(&team, "budget_crossed", "team", 1500.0),
        )
        .await;
    assert_eq!(more.action, Some(EventAction::AutoRecharged), "{more:?}");
    assert_eq!(env.charges().await, 2);
}

#[tokio::test]
async fn the_limit_webhook_and_an_alert_for_one_need_charge_once() {
    let (env, _litellm) = on_litellm().await;
    let team = env.ready_org("lt_both", "pm_card_visa", json!({})).await;
    let crossed = alert_body(&team, "budget_crossed", "team", 520.0);
    let (a, b) = tokio::join!(
        env.send_alert(ALERT_TOKEN, &crossed),
        env.send_limit(&team, 520.0, Some("evt-both")),
    );
    let actions = [a.1.action, b.1.action];
    assert!(
        actions.contains(&Some(EventAction::AutoRecharged))
            && actions.contains(&Some(EventAction::NotNeeded)),
        "{actions:?}"
    );
    assert_eq!(env.charges().await, 1);
}
