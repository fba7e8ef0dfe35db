//! Operator endpoints: list by sync state, manual re-sync, reconcile.

use crate::support;

use std::time::Duration;

use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::Value;
use sim_faults::{FaultMode, FaultRule};
use support::*;
use tollgate_testkit::{NewapiBackend, ADMIN_TOKEN};

async fn admin_get(env: &Env, path: &str) -> reqwest::Response {
    env.app
        .client
        .get(env.app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

async fn admin_post(env: &Env, path: &str) -> reqwest::Response {
    env.app
        .client
        .post(env.app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let env = spawn().await;
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        ("GET", "/admin/keys".to_owned()),
        ("POST", format!("/admin/keys/{id}/sync")),
        ("POST", "/admin/reconcile".to_owned()),
    ] {
        for token in [None, Some("wrong"), Some(WEBHOOK_SECRET)] {
            let mut req = env
                .app
                .client
                .request(method.parse().unwrap(), env.app.url(&path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            assert_eq!(
                req.send().await.unwrap().status(),
                401,
                "{method} {path} {token:?}"
            );
        }
    }
}

#[tokio::test]
async fn list_filters_by_sync_state_pages_and_never_shows_keys() {
    let env = spawn().await;
    many_signups(&env.app, 3, 3).await;
    env.newapi
        .sim
        .faults()
        .push(FaultRule::new(FaultMode::SuccessFalse).path("/api/token/import"));
    many_signups(&env.app, 2, 2).await;
    let all: Value = admin_get(&env, "/admin/keys").await.json().await.unwrap();
    assert_eq!(all["total"], 5);
    assert!(all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("key").is_none()));
    let synced: Value = admin_get(&env, "/admin/keys?sync=synced")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(synced["total"], 3);
    let failed: Value = admin_get(&env, "/admin/keys?sync=failed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["total"], 2);
    assert!(failed["keys"][0]["sync"]["error"]
        .as_str()
        .unwrap()
        .contains("refused"));
    let page: Value = admin_get(&env, "/admin/keys?page=2&page_size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            page["keys"].as_array().unwrap().len(),
            page["total"].as_i64()
        ),
        (2, Some(5))
    );
    let beyond: Value = admin_get(&env, "/admin/keys?page=5000&page_size=200")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            beyond["keys"].as_array().unwrap().len(),
            beyond["total"].as_i64()
        ),
        (0, Some(5)),
        "a page past the end is empty"
    );
    let last: Value = admin_get(&env, "/admin/keys?page=3&page_size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["keys"].as_array().unwrap().len(), 1);
    for bad in [
        "sync=lost",
        "page=0",
        "page_size=0",
        "page_size=201",
        "page=x",
        // Deeper than page × page_size = 1 000 000 (found by schemathesis as an overflow).
        "page=5001&page_size=200",
        "page=184467440737095518&page_size=200",
    ] {
        let res = admin_get(&env, &format!("/admin/keys?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_query", "{bad}");
    }
}

/// `POST /admin/keys/{id}/sync`, again while another attempt holds the key (409).
async fn resync_when_free(env: &Env, id: &str) -> Value {
    for _ in 0..100 {
        let res = admin_post(env, &format!("/admin/keys/{id}/sync")).await;
        if res.status() != 409 {
            return res.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("key {id} stayed held by other attempts");
}

#[tokio::test]
async fn manual_resync_pushes_now_and_reports() {
    let env = spawn().await;
    env.newapi.sim.faults().push(
        FaultRule::new(FaultMode::Error)
            .status(502)
            .path("/api/token/import"),
    );
    let user = uuid::Uuid::new_v4().to_string();
    let answer: Value = post_signup(&env.app, &signup(&user))
        .await
        .json()
        .await
        .unwrap();
    let id = answer["key_id"].as_str().unwrap().to_owned();
    // Still failing: the manual attempt reports the error (the worker's own retry may hold
    // the key for a moment: 409, then again).
    let res = resync_when_free(&env, &id).await;
    assert_eq!(res["synced"], false, "{res}");
    assert!(res["error"].as_str().unwrap().contains("502"));
    env.newapi.sim.faults().clear();
    let res = resync_when_free(&env, &id).await;
    assert_eq!(res["synced"], true, "{res}");
    // Unknown and malformed ids.
    let res = admin_post(&env, &format!("/admin/keys/{}/sync", uuid::Uuid::new_v4())).await;
    assert_eq!(res.status(), 404);
    let res = admin_post(&env, "/admin/keys/not-a-uuid/sync").await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn reconcile_gives_auth_users_keys_and_retries_unsynced_ones() {
    // The worker asleep for the test: otherwise it may claim the key reconcile makes due
    // before reconcile's own pass does (both are right; only one of them counts it).
    let newapi = tollgate_testkit::newapi_sim(NewapiBackend::Postgres).await;
    let base = newapi.base_url();
    let app = spawn_with(move |db| {
        let mut s = settings(db, &base);
        s.key_sync.sync_interval_ms = 3_600_000;
        s
    })
    .await;
    let env = Env { app, newapi };
    let mut conn = env.app.db.connect().await;
    conn.batch_execute(
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);",
    )
    .await
    .unwrap();
    let missed: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
    for id in &missed {
        diesel::sql_query("INSERT INTO auth.users (id, email) VALUES ($1, 'x@y')")
            .bind::<diesel::sql_types::Uuid, _>(id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // One signup whose key failed to sync, with its retry far in the future.
    env.newapi
        .sim
        .faults()
        .push(FaultRule::new(FaultMode::Drop).path("/api/token/import"));
    let late = uuid::Uuid::new_v4();
    diesel::sql_query("INSERT INTO auth.users (id, email) VALUES ($1, 'late@y')")
        .bind::<diesel::sql_types::Uuid, _>(late)
        .execute(&mut conn)
        .await
        .unwrap();
    post_signup(&env.app, &signup(&late.to_string())).await;
    // Push its retry a day out once the signup's own push has recorded its failure and no
    // attempt holds it: an attempt still in flight (the inline push, or a worker retry)
    // would record its failure after us and bring the retry back before reconcile.
    loop {
        let pushed = diesel::sql_query(
            "UPDATE api_keys SET next_sync_at = now() + interval '1 day' \
             WHERE NOT newapi_synced AND sync_error IS NOT NULL \
               AND (sync_claimed_until IS NULL OR sync_claimed_until < now())",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        if pushed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    env.newapi.sim.faults().clear();

    let report: Value = admin_post(&env, "/admin/reconcile")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["created"], 3, "{report}");
    assert_eq!(report["deleted"], 0, "{report}");
    assert!(report["retried"].as_i64().unwrap() >= 1, "{report}");
    wait_for_count(
        &env.app,
        "SELECT count(*) AS n FROM api_keys WHERE newapi_synced",
        4,
        Duration::from_secs(5),
    )
    .await;
    // A second pass has nothing to do.
    let report: Value = admin_post(&env, "/admin/reconcile")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["created"].as_i64(), report["retried"].as_i64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn reconcile_disables_users_gone_from_auth_users() {
    let env = spawn_database(NewapiBackend::Postgres).await;
    let mut conn = env.app.db.connect().await;
    conn.batch_execute(
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);",
    )
    .await
    .unwrap();
    let (gone, stays) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for id in [gone, stays] {
        diesel::sql_query("INSERT INTO auth.users (id, email) VALUES ($1, 'x@y')")
            .bind::<diesel::sql_types::Uuid, _>(id)
            .execute(&mut conn)
            .await
            .unwrap();
        post_signup(&env.app, &signup(&id.to_string())).await;
    }
    let key_of = |keys: Vec<Value>| keys[0]["key"].as_str().unwrap().to_owned();
    let gone_key = key_of(my_keys(&env.app, &gone.to_string()).await);
    let stays_key = key_of(my_keys(&env.app, &stays.to_string()).await);
    assert_eq!(gateway_status(&env.newapi, &gone_key).await, 200);
    // Deleted while key-sync was not told (the webhook is not retried).
    diesel::sql_query("DELETE FROM auth.users WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(gone)
        .execute(&mut conn)
        .await
        .unwrap();

    let report: Value = admin_post(&env, "/admin/reconcile")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["deleted"], 1, "{report}");
    assert_eq!(report["created"], 0, "{report}");
    assert_eq!(gateway_status(&env.newapi, &gone_key).await, 401);
    assert_eq!(gateway_status(&env.newapi, &stays_key).await, 200);
    assert_eq!(
        my_keys(&env.app, &gone.to_string()).await[0]["status"],
        "revoked"
    );
    // Nothing left to do.
    let report: Value = admin_post(&env, "/admin/reconcile")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["deleted"], 0, "{report}");
}

#[tokio::test]
async fn metrics_count_keys_and_sync_attempts() {
    let env = spawn().await;
    many_signups(&env.app, 2, 2).await;
    let text = env.app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("key_sync_keys_created_total{source=\"webhook\"} 2"),
        "{text}"
    );
    assert!(text.contains("key_sync_sync_attempts_total{result=\"success\"} 2"));
    assert!(text.contains("key_sync_sync_duration_seconds_bucket{result=\"success\""));
    assert!(text.contains("key_sync_keys_pending_sync"));
}
