//! billing with `QUOTA_BACKEND=litellm` against litellm-sim: an organisation's quota is its
//! LiteLLM team's `max_budget`, created on sync and set (never added to) on each recharge,
//! with `budget_duration` kept null; LiteLLM failing after a charge refunds it, as with the
//! KMS.

use crate::support;

use std::net::TcpListener;

use billing::settings::QuotaBackend;
use billing::store::recharges::RechargeStatus;
use billing::views::EventAction;
use litellm_sim::{SimConfig, SimHandle};
use serde_json::json;
use sim_faults::{FaultMode, FaultRule};
use support::usd;
use support::{spawn_with, Env};

const MASTER: &str = "sk-litellm-master-test";

async fn on_litellm() -> (Env, SimHandle) {
    let mut config = SimConfig::new(MASTER, None);
    // The operator's default would make a prepaid budget reset if billing left it out.
    config.default_budget_duration = Some("30d".into());
    let litellm = litellm_sim::spawn(config, TcpListener::bind("127.0.0.1:0").unwrap())
        .await
        .unwrap();
    let url = litellm.base_url().to_owned();
    let env = spawn_with(move |b| {
        b.quota_backend = QuotaBackend::Litellm;
        b.kms_base_url = String::new();
        b.litellm_base_url = Some(url);
        b.litellm_master_key = Some(MASTER.into());
    })
    .await;
    (env, litellm)
}

#[tokio::test]
async fn sync_creates_the_team_and_recharges_set_its_budget() {
    let (env, litellm) = on_litellm().await;
    env.create_org("lt_org", json!({})).await;
    env.add_card("lt_org", "pm_card_visa").await;
    let team = env.sync("lt_org").await;
    assert_eq!(team, "lt_org", "the team id is the organisation's");
    let held = litellm.team("lt_org").unwrap();
    assert_eq!(held.max_budget, Some(0.0));
    assert_eq!(
        held.budget_duration, None,
        "explicitly null, not the proxy's 30d"
    );

    let (status, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::AutoRecharged));
    assert_eq!(answer.recharged_amount, Some(usd(1020.0)));
    assert_eq!(litellm.team("lt_org").unwrap().max_budget, Some(1020.0));
    let org = env.org("lt_org").await;
    assert_eq!(org.credited_total, usd(1020.0));
    assert_eq!(env.charges().await, 1);

    // A manual recharge sets the budget to the new credited total.
    let r = env
        .admin_post(
            "/api/organizations/lt_org/recharge",
            json!({ "amount": 30 }),
        )
        .await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    assert_eq!(litellm.team("lt_org").unwrap().max_budget, Some(1050.0));
    // Syncing again changes nothing.
    env.sync("lt_org").await;
    let held = litellm.team("lt_org").unwrap();
    assert_eq!(
        (held.max_budget, held.budget_duration),
        (Some(1050.0), None)
    );
    assert_eq!(litellm.teams().len(), 1);
}

#[tokio::test]
async fn litellm_down_after_the_charge_refunds_it() {
    let (env, litellm) = on_litellm().await;
    let team = env.ready_org("lt_down", "pm_card_visa", json!({})).await;
    litellm
        .faults()
        .push(FaultRule::new(FaultMode::Error).status(503).path("/team/"));
    let (status, answer) = env.send_limit(&team, 520.0, Some("evt-lt")).await;
    assert_eq!(status, 503, "{answer:?}");
    assert_eq!(answer.action, Some(EventAction::Refunded));
    assert_eq!(
        answer.recharge.as_ref().unwrap().status,
        RechargeStatus::Refunded
    );
    assert_eq!(env.refunds().await.len(), 1);
    assert_eq!(litellm.team("lt_down").unwrap().max_budget, Some(0.0));
    let org = env.org("lt_down").await;
    assert_eq!(org.credited_total, usd(0.0));
}

#[tokio::test]
async fn the_backends_settings_are_required() {
    use billing::settings::Settings;
    let mut b = support::billing_settings("http://127.0.0.1:9", "http://127.0.0.1:9");
    b.quota_backend = QuotaBackend::Litellm;
    let common = || tollgate_testkit::common_settings("postgres://postgres@127.0.0.1/x");
    let error = Settings::new(common(), b.clone()).unwrap_err().to_string();
    assert!(error.contains("LITELLM_BASE_URL"), "{error}");
    b.litellm_base_url = Some("http://127.0.0.1:4000".into());
    let error = Settings::new(common(), b.clone()).unwrap_err().to_string();
    assert!(error.contains("LITELLM_MASTER_KEY"), "{error}");
    b.litellm_master_key = Some(MASTER.into());
    b.kms_base_url = String::new();
    assert!(Settings::new(common(), b.clone()).is_ok(), "no KMS needed");
    b.quota_backend = QuotaBackend::Kms;
    let error = Settings::new(common(), b).unwrap_err().to_string();
    assert!(error.contains("KMS_BASE_URL"), "{error}");
}
