//! The safety-net poller: with no webhook or alert at all, an organisation whose usage
//! passed its minimum balance is recharged exactly once within two intervals — also with two
//! billing instances polling, and also when LiteLLM's alert arrives at the same time; an
//! unreachable backend is skipped and reported, never charged.

use crate::support;

use std::net::TcpListener;
use std::time::Duration;

use billing::settings::QuotaBackend;
use billing::store::recharges::{RechargeStatus, TriggeredBy};
use billing::views::{OrganizationList, PollerRunView};
use litellm_sim::{Request, SimConfig, SimHandle};
use serde_json::{json, Value};
use sim_faults::{FaultMode, FaultRule};
use support::usd;
use support::{alert_body, spawn_with, Env, ALERT_TOKEN};

const MASTER: &str = "sk-litellm-master-test";
const INTERVAL_SECS: u64 = 1;
/// A minimum balance of zero: a fresh organisation (nothing credited, nothing spent) is
/// covered, so only the spend a test makes can start a recharge.
static AT_ZERO: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| json!({ "minimum_balance": 0 }));

async fn polling_litellm() -> (Env, SimHandle) {
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
        b.poll_interval_secs = INTERVAL_SECS;
    })
    .await;
    (env, litellm)
}

/// Wait until `charges` succeeded charges exist, or `within` passes; returns the count.
async fn charges_within(env: &Env, charges: usize, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = env.charges().await;
        if n >= charges || tokio::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn last_poll(env: &Env) -> PollerRunView {
    let list: OrganizationList = env.admin_read("/api/organizations").await;
    list.last_poll.expect("a finished pass")
}

#[tokio::test]
async fn the_poller_recharges_before_litellm_rejects_anything() {
    let (env, litellm) = polling_litellm().await;
    let team = env
        .ready_org("poll_1", "pm_card_visa", AT_ZERO.clone())
        .await;
    let covered = env
        .ready_org("poll_covered", "pm_card_visa", AT_ZERO.clone())
        .await;
    env.admin_post(
        "/api/organizations/poll_covered/recharge",
        json!({ "amount": 600 }),
    )
    .await;
    // 450 spent of nothing: below the minimum, but nothing was rejected, so no alert.
    assert!(matches!(litellm.request(&team, 450.0), Request::Served(_)));
    assert!(matches!(
        litellm.request(&covered, 100.0),
        Request::Served(_)
    ));
    let interval = Duration::from_secs(INTERVAL_SECS);
    assert_eq!(
        charges_within(&env, 2, interval * 2 + Duration::from_millis(900)).await,
        2
    );
    // The charge is counted before its quota is delivered: wait for the delivery (a busy
    // machine once read the budget in between).
    let mut history = env.history("poll_1").await;
    for _ in 0..100 {
        if history.len() == 1 && history[0].status == RechargeStatus::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        history = env.history("poll_1").await;
    }
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].status, RechargeStatus::Succeeded, "{history:?}");
    assert_eq!(history[0].triggered_by, TriggeredBy::Poller);
    assert_eq!(
        history[0].amount,
        usd(950.0),
        "up to the 500 target from -450"
    );
    assert_eq!(litellm.team(&team).unwrap().max_budget, Some(950.0));
    assert_eq!(env.history("poll_covered").await.len(), 1, "manual only");
    // Later passes see the balance covered.
    tokio::time::sleep(interval * 3).await;
    assert_eq!(env.charges().await, 2);
    let run = last_poll(&env).await;
    assert_eq!(
        (run.organizations, run.unreachable, run.recharges),
        (2, 0, 0),
        "{run:?}"
    );
}

#[tokio::test]
async fn two_instances_polling_charge_once() {
    let (env, litellm) = polling_litellm().await;
    let _replica = env.replica().await;
    let teams: Vec<String> = futures_util::future::join_all(
        (0..5).map(|i| env.ready_org_owned(format!("poll_r{i}"), AT_ZERO.clone())),
    )
    .await;
    for team in &teams {
        assert!(matches!(litellm.request(team, 450.0), Request::Served(_)));
    }
    let interval = Duration::from_secs(INTERVAL_SECS);
    assert_eq!(
        charges_within(&env, 5, interval * 2 + Duration::from_millis(900)).await,
        5
    );
    tokio::time::sleep(interval * 3).await;
    assert_eq!(env.charges().await, 5, "one charge per organisation");
    for i in 0..5 {
        assert_eq!(env.history(&format!("poll_r{i}")).await.len(), 1);
    }
}

#[tokio::test]
async fn the_poller_and_litellms_alert_at_once_charge_once() {
    let (env, litellm) = polling_litellm().await;
    let team = env
        .ready_org("poll_alert", "pm_card_visa", AT_ZERO.clone())
        .await;
    assert!(matches!(litellm.request(&team, 520.0), Request::Served(_)));
    // The alert races the next pass.
    let (status, answer) = env
        .send_alert(
            ALERT_TOKEN,
            &alert_body(&team, "budget_crossed", "team", 520.0),
        )
        .await;
    assert_eq!(status, 200, "{answer:?}");
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS) * 3).await;
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.history("poll_alert").await.len(), 1);
}

#[tokio::test]
async fn an_unreachable_backend_is_skipped_and_reported_never_charged() {
    let (env, litellm) = polling_litellm().await;
    let team = env
        .ready_org("poll_down", "pm_card_visa", AT_ZERO.clone())
        .await;
    litellm.faults().push(
        FaultRule::new(FaultMode::Error)
            .status(503)
            .path("/team/info"),
    );
    assert!(matches!(litellm.request(&team, 450.0), Request::Served(_)));
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS) * 3).await;
    assert_eq!(env.charges().await, 0);
    assert_eq!(env.count("recharge_records").await, 0);
    let run = last_poll(&env).await;
    assert_eq!((run.unreachable, run.recharges), (1, 0), "{run:?}");
}
