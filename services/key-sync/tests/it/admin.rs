//! Operator endpoints: list by sync state, manual re-sync, reconcile.

use crate::support;

use std::time::Duration;

use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use key_sync::handlers::views::{AdminKeyPage, KeyStatus, OwnerKey, ResyncAnswer, SignupAnswer};
use key_sync::keys::Reconciled;
use sim_faults::{FaultMode, FaultRule};
use support::*;
use tollgate_testkit::{answer, error_code, NewapiBackend, ADMIN_TOKEN};

/// One page of `GET /admin/keys?{query}`.
async fn admin_page(env: &Env, query: &str) -> AdminKeyPage {
    answer(admin_get(env, &format!("/admin/keys?{query}")).await, 200).await
}

/// `POST /admin/reconcile`'s report.
async fn reconcile(env: &Env) -> Reconciled {
    answer(admin_post(env, "/admin/reconcile").await, 200).await
}

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
            let res = req.send().await.unwrap();
            assert_eq!(
                error_code(res, 401).await,
                "unauthorized",
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
    // The wire text itself: no key material under any name.
    let text = admin_get(&env, "/admin/keys").await.text().await.unwrap();
    let full_key = |(at, _): (usize, &str)| text[at + 3..].starts_with(char::is_alphanumeric);
    assert!(!text.contains("\"key\":"), "{text}");
    assert!(
        !text.match_indices("sk-").any(full_key),
        "only hints: {text}"
    );
    let all: AdminKeyPage = serde_json::from_str(&text).unwrap();
    assert_eq!((all.total, all.keys.len()), (5, 5));
    assert!(all.keys.iter().all(|k| k.status == KeyStatus::Active));
    assert_eq!(admin_page(&env, "sync=synced").await.total, 3);
    let failed = admin_page(&env, "sync=failed").await;
    assert_eq!(failed.total, 2);
    assert!(failed.keys.iter().all(|k| !k.synced));
    assert!(failed.keys[0]
        .sync
        .error
        .as_deref()
        .unwrap()
        .contains("refused"));
    let page = admin_page(&env, "page=2&page_size=2").await;
    assert_eq!((page.keys.len(), page.total, page.page), (2, 5, 2));
    let beyond = admin_page(&env, "page=5000&page_size=200").await;
    assert_eq!(
        (beyond.keys.len(), beyond.total),
        (0, 5),
        "a page past the end is empty"
    );
    assert_eq!(admin_page(&env, "page=3&page_size=2").await.keys.len(), 1);
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
        assert_eq!(error_code(res, 400).await, "invalid_query", "{bad}");
    }
}

/// `POST /admin/keys/{id}/sync`, again while another attempt holds the key (409).
async fn resync_when_free(env: &Env, id: uuid::Uuid) -> ResyncAnswer {
    for _ in 0..100 {
        let res = admin_post(env, &format!("/admin/keys/{id}/sync")).await;
        if res.status() != 409 {
            return answer(res, 200).await;
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
    let signed_up: SignupAnswer = answer(post_signup(&env.app, &signup(&user)).await, 200).await;
    let id = signed_up.key_id;
    // Still failing: the manual attempt reports the error (the worker's own retry may hold
    // the key for a moment: 409, then again).
    let res = resync_when_free(&env, id).await;
    assert!(!res.synced, "{res:?}");
    assert!(res.error.as_deref().unwrap().contains("502"));
    env.newapi.sim.faults().clear();
    let res = resync_when_free(&env, id).await;
    assert!(res.synced, "{res:?}");
    assert_eq!(res.key_id, id);
    assert!(res.newapi_token_id.is_some());
    // Unknown and malformed ids.
    let res = admin_post(&env, &format!("/admin/keys/{}/sync", uuid::Uuid::new_v4())).await;
    assert_eq!(error_code(res, 404).await, "not_found");
    let res = admin_post(&env, "/admin/keys/not-a-uuid/sync").await;
    error_code(res, 400).await;
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

    let report = reconcile(&env).await;
    assert_eq!((report.created, report.deleted), (3, 0), "{report:?}");
    assert!(report.retried >= 1, "{report:?}");
    wait_for_count(
        &env.app,
        "SELECT count(*) AS n FROM api_keys WHERE newapi_synced",
        4,
        Duration::from_secs(5),
    )
    .await;
    // A second pass has nothing to do.
    let report = reconcile(&env).await;
    assert_eq!((report.created, report.retried), (0, 0), "{report:?}");
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
    let key_of = |keys: Vec<OwnerKey>| keys[0].key.clone().unwrap();
    let gone_key = key_of(owned_keys(&env.app, &gone.to_string()).await);
    let stays_key = key_of(owned_keys(&env.app, &stays.to_string()).await);
    assert_eq!(gateway_status(&env.newapi, &gone_key).await, 200);
    // Deleted while key-sync was not told (the webhook is not retried).
    diesel::sql_query("DELETE FROM auth.users WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(gone)
        .execute(&mut conn)
        .await
        .unwrap();

    let report = reconcile(&env).await;
    assert_eq!((report.deleted, report.created), (1, 0), "{report:?}");
    assert_eq!(gateway_status(&env.newapi, &gone_key).await, 401);
    assert_eq!(gateway_status(&env.newapi, &stays_key).await, 200);
    assert_eq!(
        owned_keys(&env.app, &gone.to_string()).await[0].status,
        KeyStatus::Revoked
    );
    // Nothing left to do.
    assert_eq!(reconcile(&env).await.deleted, 0);
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
