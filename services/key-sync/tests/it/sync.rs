//! new-api failing during 200 signups: every key is kept with its error, and once new-api
//! recovers every key lands, without duplicates and without manual action.

use crate::support;

use std::time::Duration;

use key_sync::handlers::views::SignupAnswer;
use sim_faults::{FaultMode, FaultRule};
use support::*;
use tollgate_testkit::{answer, newapi_sim_on, ClosedPort, NewapiBackend};

const SIGNUPS: usize = 200;
const UNSYNCED: &str = "SELECT count(*) AS n FROM api_keys WHERE NOT newapi_synced";
const FAILED: &str =
    "SELECT count(*) AS n FROM api_keys WHERE NOT newapi_synced AND sync_error IS NOT NULL AND sync_attempts >= 1";
const SYNCED: &str =
    "SELECT count(*) AS n FROM api_keys WHERE newapi_synced AND sync_error IS NULL";
const DISTINCT_TOKENS: &str = "SELECT count(DISTINCT newapi_token_id) AS n FROM api_keys";

async fn assert_all_stored_with_errors(app: &tollgate_testkit::TestApp, error_part: &str) {
    assert_eq!(key_rows(app).await, SIGNUPS as i64);
    assert_eq!(count(app, UNSYNCED).await, SIGNUPS as i64);
    wait_for_count(app, FAILED, SIGNUPS as i64, Duration::from_secs(10)).await;
    let mut conn = app.db.connect().await;
    #[derive(diesel::QueryableByName)]
    struct E {
        #[diesel(sql_type = diesel::sql_types::Text)]
        e: String,
    }
    use diesel_async::RunQueryDsl;
    let errors: Vec<E> = diesel::sql_query("SELECT DISTINCT sync_error AS e FROM api_keys")
        .load(&mut conn)
        .await
        .unwrap();
    assert!(
        errors.iter().all(|e| e.e.contains(error_part)),
        "errors: {:?}",
        errors.iter().map(|e| &e.e).collect::<Vec<_>>()
    );
}

async fn assert_all_synced_once(
    env_app: &tollgate_testkit::TestApp,
    newapi: &tollgate_testkit::NewapiSim,
) {
    wait_for_count(env_app, SYNCED, SIGNUPS as i64, Duration::from_secs(60)).await;
    assert_eq!(count(env_app, DISTINCT_TOKENS).await, SIGNUPS as i64);
    assert_eq!(
        newapi.sim.stats().tokens_created,
        SIGNUPS as u64,
        "duplicate tokens in new-api"
    );
}

async fn outage_by_fault(rule: FaultRule, error_part: &str) {
    let env = spawn().await;
    env.newapi.sim.faults().push(rule.path("/api/token/import"));
    let users = many_signups(&env.app, SIGNUPS, 25).await;
    assert_all_stored_with_errors(&env.app, error_part).await;
    env.newapi.sim.faults().clear();
    assert_all_synced_once(&env.app, &env.newapi).await;
    // Spot check: a recovered key works on the gateway.
    let keys = owned_keys(&env.app, &users[0]).await;
    assert_eq!(
        gateway_status(&env.newapi, keys[0].key.as_deref().unwrap()).await,
        200
    );
}

#[tokio::test]
async fn http_500_then_recovery() {
    outage_by_fault(FaultRule::new(FaultMode::Error).status(500), "HTTP 500").await;
}

#[tokio::test]
async fn http_200_success_false_then_recovery() {
    outage_by_fault(FaultRule::new(FaultMode::SuccessFalse), "refused").await;
}

#[tokio::test]
async fn hanging_past_the_timeout_then_recovery() {
    outage_by_fault(
        FaultRule::new(FaultMode::Delay).delay(Duration::from_millis(1500)),
        "timed out",
    )
    .await;
}

#[tokio::test]
async fn connection_refused_then_recovery() {
    // Reserve a port and point key-sync at it: nothing listens yet.
    let port = ClosedPort::new();
    let app = spawn_against(&port.url()).await;
    let users = many_signups(&app, SIGNUPS, 25).await;
    assert_all_stored_with_errors(&app, "unreachable").await;
    let newapi = newapi_sim_on(NewapiBackend::Postgres, port.listen()).await;
    assert_all_synced_once(&app, &newapi).await;
    let keys = owned_keys(&app, &users[SIGNUPS - 1]).await;
    assert_eq!(
        gateway_status(&newapi, keys[0].key.as_deref().unwrap()).await,
        200
    );
}

#[tokio::test]
async fn two_replicas_push_each_key_exactly_once_after_recovery() {
    // A generous timeout: a push that timed out would be pushed again, legitimately, and
    // this test counts pushes.
    let (env, second) = spawn_patient_pair().await;
    env.newapi.sim.faults().push(
        FaultRule::new(FaultMode::Error)
            .status(503)
            .path("/api/token/import"),
    );
    // Signups spread over both replicas.
    for (i, user) in (0..100)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .enumerate()
    {
        let url = if i % 2 == 0 {
            env.app.url("/webhooks/supabase/users")
        } else {
            format!("{second}/webhooks/supabase/users")
        };
        let res = env
            .app
            .client
            .post(url)
            .bearer_auth(WEBHOOK_SECRET)
            .json(&signup(&user))
            .send()
            .await
            .unwrap();
        assert!(!answer::<SignupAnswer>(res, 200).await.synced);
    }
    let before = env.newapi.sim.stats().import_calls;
    env.newapi.sim.faults().clear();
    wait_for_count(
        &env.app,
        "SELECT count(*) AS n FROM api_keys WHERE newapi_synced",
        100,
        Duration::from_secs(30),
    )
    .await;
    // Both workers ran over the same queue; every key was pushed once after recovery.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.newapi.sim.stats().import_calls - before, 100);
    assert_eq!(env.newapi.sim.stats().tokens_created, 100);
}
