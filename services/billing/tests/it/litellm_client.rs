//! billing's LiteLLM client against litellm-sim: teams created and budgets set (never
//! added), `budget_duration` kept null whatever the proxy's default, spend read in cents,
//! and each failure mapped to what the retry schedule expects.

use std::net::TcpListener;
use std::time::Duration;

use billing::kms::KmsError;
use billing::litellm::LitellmClient;
use litellm_sim::{Request, SimConfig, SimHandle};
use sim_faults::{FaultMode, FaultRule};
use tollgate_domain::money::Cents;

const MASTER: &str = "sk-master-billing-test";

async fn sim() -> SimHandle {
    let mut config = SimConfig::new(MASTER, None);
    // An operator default that would make a prepaid budget reset monthly if the field were
    // left out.
    config.default_budget_duration = Some("30d".into());
    litellm_sim::spawn(config, TcpListener::bind("127.0.0.1:0").unwrap())
        .await
        .unwrap()
}

fn client(sim: &SimHandle) -> LitellmClient {
    LitellmClient::new(sim.base_url(), MASTER, Duration::from_secs(2))
}

#[tokio::test]
async fn creates_a_team_sets_its_budget_and_reads_its_spend() {
    let sim = sim().await;
    let litellm = client(&sim);
    let team = litellm
        .create_team("org-1", "Acme", Cents(2_550))
        .await
        .unwrap();
    assert_eq!(team.team_id, "org-1");
    assert_eq!(team.max_budget, Some(Cents(2_550)));
    assert_eq!(team.spend, Cents(0));
    let held = sim.team("org-1").unwrap();
    assert_eq!(held.team_alias.as_deref(), Some("Acme"));
    assert_eq!(held.budget_duration, None, "never the proxy's default");

    let team = litellm.set_max_budget("org-1", Cents(4_000)).await.unwrap();
    assert_eq!(team.max_budget, Some(Cents(4_000)), "set, not added");
    assert!(matches!(sim.request("org-1", 0.1), Request::Served(_)));
    assert!(matches!(sim.request("org-1", 0.2), Request::Served(_)));
    let team = litellm.team_info("org-1").await.unwrap();
    assert_eq!(team.spend, Cents(30));
    assert_eq!(sim.team("org-1").unwrap().budget_duration, None);
}

#[tokio::test]
async fn failures_map_to_what_the_retry_schedule_expects() {
    let sim = sim().await;
    let litellm = client(&sim);
    litellm.create_team("t", "T", Cents(100)).await.unwrap();

    let taken = litellm.create_team("t", "T", Cents(100)).await.unwrap_err();
    assert!(
        matches!(&taken, KmsError::Rejected { status: 400, message } if message.contains("already exists")),
        "{taken:?}"
    );
    assert!(matches!(
        litellm.team_info("nope").await,
        Err(KmsError::NotFound)
    ));
    assert!(matches!(
        litellm.set_max_budget("nope", Cents(1)).await,
        Err(KmsError::NotFound)
    ));

    let wrong = LitellmClient::new(sim.base_url(), "sk-wrong", Duration::from_secs(2));
    assert!(matches!(
        wrong.team_info("t").await,
        Err(KmsError::Rejected { status: 401, .. })
    ));

    sim.faults()
        .push(FaultRule::new(FaultMode::Error).status(503).times(1));
    assert!(matches!(
        litellm.team_info("t").await,
        Err(KmsError::Unavailable(_))
    ));
    sim.faults().push(
        FaultRule::new(FaultMode::Delay)
            .delay(Duration::from_secs(5))
            .times(1),
    );
    assert!(matches!(
        litellm.team_info("t").await,
        Err(KmsError::Unavailable(why)) if why == "timed out"
    ));
    assert_eq!(
        sim.team("t").unwrap().max_budget,
        Some(1.0),
        "nothing changed"
    );
}
