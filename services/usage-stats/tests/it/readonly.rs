//! usage-stats needs nothing but SELECT on new-api's `tokens` and `logs` (Postgres).

use crate::support;

use diesel_async::SimpleAsyncConnection;
use support::*;
use tollgate_newapi_schema::{with_conn, Backend, NewToken, NewapiConn};
use tollgate_testkit::{newapi_db, TestApp};
use usage_stats::query::views::Detail;

/// A role shared by test runs (roles are cluster-wide); its grants live in each test's
/// own database and vanish with it.
const ROLE: &str = "tollgate_test_readonly";

#[tokio::test]
async fn works_with_a_read_only_user_on_newapis_database() {
    let newapi = newapi_db(Backend::Postgres).await;
    let mut admin = NewapiConn::establish(newapi.url()).await.unwrap();
    let grants = format!(
        "DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}; \
         GRANT CONNECT ON DATABASE \"{db}\" TO {ROLE}; \
         GRANT USAGE ON SCHEMA public TO {ROLE}; \
         GRANT SELECT ON tokens, logs TO {ROLE};",
        db = newapi.name()
    );
    with_conn!(&mut admin, |c| c.batch_execute(&grants).await.unwrap());
    let mut ro_url = url::Url::parse(newapi.url()).unwrap();
    ro_url.set_username(ROLE).unwrap();
    let ro_url = ro_url.to_string();

    // The read-only user really cannot write.
    let mut ro = NewapiConn::establish(&ro_url).await.unwrap();
    let denied = with_conn!(&mut ro, |c| c.batch_execute("DELETE FROM logs").await);
    assert!(denied.is_err());

    let url = ro_url.clone();
    let app =
        TestApp::spawn(
            |db| async move { usage_stats::startup::build(settings(&db, &url, 100)).await },
        )
        .await
        .unwrap();
    let env = Env { app, newapi };
    let key = new_key();
    let token = insert_token(&env, NewToken::enabled(1, &key, "ro", now())).await;
    let at = now() - 60;
    newapi_exec(
        &env,
        &format!(
            "INSERT INTO logs (user_id, created_at, type, model_name, quota, prompt_tokens, completion_tokens, use_time, token_id) \
             VALUES (1, {at}, 2, 'gpt-4o', 321, 3, 4, 1, {token})"
        ),
    )
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let body: Detail = data_of(&env.app, &key, "/api/usage/token/detail").await;
        // The summary reads the newest minutes from new-api directly; recent_logs needs the
        // ingest (which reads `logs` as the read-only user) to have caught up.
        if body.summary.total_quota == 321
            && body.recent_logs.first().is_some_and(|l| l.quota == 321)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(env.app.get("/ready").await.status(), 200);
}
