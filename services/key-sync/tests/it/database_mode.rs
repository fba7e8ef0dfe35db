//! `NEWAPI_SYNC_MODE=database` against new-api's own tables, on Postgres and MariaDB: the
//! rows a signup writes, concurrency (signups batched together), a foreign username, new-api's database stalled or
//! unreachable, an old table layout.

use crate::support;

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use key_sync::handlers::views::{OwnerKey, SyncState};
use serde_json::json;
use support::*;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{with_conn, NewapiConn};
use tollgate_testkit::{
    answer, newapi_db_before_2025_12, newapi_sim, newapi_sim_with, NewapiBackend, NewapiSim,
};

on_both_backends!(
    signup_writes_one_user_and_one_token,
    concurrent_deliveries_make_one_user_and_one_token,
    a_foreign_username_is_left_alone,
    concurrent_signups_each_land_once_beside_a_foreign_username,
    a_stalled_database_loses_nothing,
    an_unreachable_database_loses_nothing,
    an_old_schema_works,
);

async fn newapi_conn(newapi: &NewapiSim) -> NewapiConn {
    NewapiConn::establish(newapi.db.url()).await.unwrap()
}

/// `users` row fields the tests check.
type UserRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<i64>,
);

async fn new_api_users(newapi: &NewapiSim) -> Vec<UserRow> {
    let mut conn = newapi_conn(newapi).await;
    with_conn!(&mut conn, |c| {
        users::table
            .order(users::id)
            .select((
                users::id,
                users::username,
                users::display_name,
                users::email,
                users::role,
                users::status,
                users::group,
                users::quota,
                users::aff_code,
                users::created_at,
            ))
            .load(c)
            .await
    })
    .unwrap()
}

/// `(id, user_id, key, name, status, expired_time, unlimited_quota, remain_quota, group, used_quota)`.
type TokenRow = (
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

async fn new_api_tokens(newapi: &NewapiSim) -> Vec<TokenRow> {
    let mut conn = newapi_conn(newapi).await;
    with_conn!(&mut conn, |c| {
        tokens::table
            .order(tokens::id)
            .select((
                tokens::id,
                tokens::user_id,
                tokens::key,
                tokens::name,
                tokens::status,
                tokens::expired_time,
                tokens::unlimited_quota,
                tokens::remain_quota,
                tokens::group,
                tokens::used_quota,
            ))
            .load(c)
            .await
    })
    .unwrap()
}

fn expected_username(user: &str) -> String {
    format!("sb_{}", &user.replace('-', "")[..17])
}

async fn signup_writes_one_user_and_one_token(backend: NewapiBackend) {
    let env = spawn_database(backend).await;
    let user = uuid::Uuid::new_v4().to_string();
    let before = chrono::Utc::now().timestamp();
    let body = signed_up(&env.app, &user).await;
    assert!(body.synced, "{body:?}");

    let users = new_api_users(&env.newapi).await;
    assert_eq!(users.len(), 1, "{users:?}");
    let (id, username, display, email, role, status, group, quota, aff_code, created_at) =
        users[0].clone();
    let email_full = format!("{user}@example.com");
    assert_eq!(username.as_deref(), Some(expected_username(&user).as_str()));
    assert_eq!(display, Some(email_full.chars().take(20).collect()));
    assert_eq!(email.as_deref(), Some(email_full.as_str()));
    assert_eq!((role, status), (Some(1), Some(1)));
    assert_eq!(group.as_deref(), Some("default"));
    assert_eq!(quota, Some(USER_QUOTA as i32));
    assert_eq!(aff_code, None);
    let created_at = created_at.unwrap();
    assert!((before..=before + 5).contains(&created_at), "{created_at}");

    let keys = owned_keys(&env.app, &user).await;
    let full = keys[0].key.as_deref().unwrap().to_owned();
    let tokens = new_api_tokens(&env.newapi).await;
    assert_eq!(tokens.len(), 1);
    let (token_id, owner, key, name, status, expires, unlimited, remain, group, used) =
        tokens[0].clone();
    assert_eq!(owner, Some(id));
    assert_eq!(key.as_deref(), full.strip_prefix("sk-"));
    assert_eq!(name.as_deref(), Some("default"));
    assert_eq!((status, expires), (Some(1), Some(-1)));
    assert_eq!((unlimited, remain, used), (Some(true), Some(0), Some(0)));
    assert_eq!(group.as_deref(), Some(""));
    assert_eq!(keys[0].sync.newapi_token_id, Some(token_id));
    assert_eq!(gateway_status(&env.newapi, &full).await, 200);

    // The mapping outlives api_keys.
    let mapped = count(
        &env.app,
        &format!(
            "SELECT count(*) AS n FROM gateway_users WHERE user_id = '{user}' AND newapi_user_id = {id}"
        ),
    )
    .await;
    assert_eq!(mapped, 1);

    // A second key of the same user: the same new-api user.
    let res = env
        .app
        .client
        .post(env.app.url("/v1/keys"))
        .bearer_auth(user_token(&user))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    let second: OwnerKey = answer(res, 201).await;
    assert!(second.synced, "{second:?}");
    assert_eq!(new_api_users(&env.newapi).await.len(), 1);
    let tokens = new_api_tokens(&env.newapi).await;
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[1].1, Some(id));
    assert_eq!(tokens[1].3.as_deref(), Some("ci"));
    assert_eq!(
        gateway_status(&env.newapi, second.key.as_deref().unwrap()).await,
        200
    );
}

async fn concurrent_deliveries_make_one_user_and_one_token(backend: NewapiBackend) {
    let env = spawn_database(backend).await;
    // Two replicas take the deliveries in turn.
    let second = start_replica(database_settings(env.app.db.url(), env.newapi.db.url())).await;
    let user = uuid::Uuid::new_v4().to_string();
    let body = signup(&user);
    let client = reqwest::Client::new();
    let results = futures_util::future::join_all((0..20).map(|i| {
        let base = if i % 2 == 0 {
            env.app.url("")
        } else {
            second.clone()
        };
        client
            .post(format!(
                "{}/webhooks/supabase/users",
                base.trim_end_matches('/')
            ))
            .bearer_auth(WEBHOOK_SECRET)
            .json(&body)
            .send()
    }))
    .await;
    for r in &results {
        assert_eq!(r.as_ref().unwrap().status(), 200);
    }
    assert_eq!(key_rows(&env.app).await, 1);
    wait_for_count(
        &env.app,
        "SELECT count(*) AS n FROM api_keys WHERE newapi_synced",
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(new_api_users(&env.newapi).await.len(), 1);
    assert_eq!(new_api_tokens(&env.newapi).await.len(), 1);

    // A fresh user's signup and two more keys at once race to create the new-api user:
    // one user, three tokens.
    let racer = uuid::Uuid::new_v4().to_string();
    let create = |name: &'static str| {
        let app = &env.app;
        let racer = racer.clone();
        async move {
            app.client
                .post(app.url("/v1/keys"))
                .bearer_auth(user_token(&racer))
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let signup_body = signup(&racer);
    let (a, b, c) = tokio::join!(
        post_signup(&env.app, &signup_body),
        create("one"),
        create("two")
    );
    assert_eq!(
        (a.status().as_u16(), b.as_u16(), c.as_u16()),
        (200, 201, 201)
    );
    wait_for_count(
        &env.app,
        "SELECT count(*) AS n FROM api_keys WHERE newapi_synced",
        4,
        Duration::from_secs(10),
    )
    .await;
    let users = new_api_users(&env.newapi).await;
    assert_eq!(users.len(), 2, "{users:?}");
    let racer_id = users
        .iter()
        .find(|u| u.1.as_deref() == Some(expected_username(&racer).as_str()))
        .unwrap()
        .0;
    let tokens = new_api_tokens(&env.newapi).await;
    assert_eq!(tokens.iter().filter(|t| t.1 == Some(racer_id)).count(), 3);
}

async fn a_foreign_username_is_left_alone(backend: NewapiBackend) {
    let newapi = newapi_sim(backend).await;
    let user = uuid::Uuid::new_v4().to_string();
    let name = expected_username(&user);
    let bcrypt = "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
    let mut conn = newapi_conn(&newapi).await;
    with_conn!(&mut conn, |c| {
        diesel::insert_into(users::table)
            .values((
                users::username.eq(&name),
                users::password.eq(bcrypt),
                users::display_name.eq("someone else"),
                users::status.eq(1),
                users::quota.eq(42),
            ))
            .execute(c)
            .await
    })
    .unwrap();
    let app = spawn_database_against(&newapi).await;
    let body = signed_up(&app, &user).await;
    assert!(!body.synced, "{body:?}");
    assert_eq!(key_rows(&app).await, 1);
    let keys = owned_keys(&app, &user).await;
    let error = keys[0].sync.error.as_deref().unwrap();
    assert!(error.contains("did not create"), "{error}");
    assert_eq!(keys[0].sync.state, SyncState::Failed);
    // The foreign user is untouched and has no token.
    let users = new_api_users(&newapi).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].2.as_deref(), Some("someone else"));
    assert_eq!((users[0].5, users[0].7), (Some(1), Some(42)));
    let password: Option<String> = with_conn!(&mut conn, |c| {
        users::table.select(users::password).first(c).await
    })
    .unwrap();
    assert_eq!(password.as_deref(), Some(bcrypt));
    assert!(new_api_tokens(&newapi).await.is_empty());
    // Retries do not change that.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(new_api_tokens(&newapi).await.is_empty());
}

/// Concurrent signups are stored and pushed in batches (`signups.rs`): each lands once and
/// works when its webhook answers, and one signup whose username a foreign new-api user
/// holds fails alone without holding back the rest of its batch.
async fn concurrent_signups_each_land_once_beside_a_foreign_username(backend: NewapiBackend) {
    let newapi = newapi_sim(backend).await;
    let foreign = uuid::Uuid::new_v4().to_string();
    let mut conn = newapi_conn(&newapi).await;
    with_conn!(&mut conn, |c| {
        diesel::insert_into(users::table)
            .values((
                users::username.eq(expected_username(&foreign)),
                users::password.eq("$2a$10$someone-elses-bcrypt-hash"),
                users::display_name.eq("someone else"),
                users::status.eq(1),
                users::quota.eq(42),
            ))
            .execute(c)
            .await
    })
    .unwrap();
    let url = newapi.db.url().to_owned();
    let app = support::spawn_with(move |db| {
        let mut s = support::database_settings(db, &url);
        // The test asserts that every push lands inline; the tests' default call timeout
        // (400 ms) is shorter than a batch of 40 can take on a loaded machine (one CI run
        // on MariaDB answered `synced: false` for one signup; the worker would have
        // synced it later, which is another test's subject).
        s.key_sync.newapi_timeout_ms = 5_000;
        s
    })
    .await;
    let mut users: Vec<String> = (0..39).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    users.insert(17, foreign.clone());
    let answers = futures_util::future::join_all(users.iter().map(|user| {
        let app = &app;
        async move { (user.clone(), signed_up(app, user).await) }
    }))
    .await;
    for (user, body) in &answers {
        assert!(body.created, "{user}: {body:?}");
        assert_eq!(body.synced, *user != foreign, "{user}: {body:?}");
    }
    // Each key works at once (no waiting for the worker).
    for user in users.iter().filter(|u| **u != foreign).take(5) {
        let keys = owned_keys(&app, user).await;
        let key = keys[0].key.as_deref().unwrap();
        assert_eq!(gateway_status(&newapi, key).await, 200, "{user}");
    }
    let keys = owned_keys(&app, &foreign).await;
    let error = keys[0].sync.error.as_deref().unwrap();
    assert!(error.contains("did not create"), "{error}");
    let in_newapi = new_api_users(&newapi).await;
    assert_eq!(in_newapi.len(), 40, "39 created beside the foreign one");
    for user in users.iter().filter(|u| **u != foreign) {
        let name = expected_username(user);
        assert_eq!(
            in_newapi
                .iter()
                .filter(|u| u.1.as_deref() == Some(name.as_str()))
                .count(),
            1,
            "{user}"
        );
    }
    let tokens = new_api_tokens(&newapi).await;
    assert_eq!(tokens.len(), 39);
    let owners: std::collections::BTreeSet<_> = tokens.iter().map(|t| t.1).collect();
    assert_eq!(owners.len(), 39, "one token per user");
    let foreign_id = in_newapi
        .iter()
        .find(|u| u.2.as_deref() == Some("someone else"))
        .unwrap()
        .0;
    assert!(
        !owners.contains(&Some(foreign_id)),
        "the foreign user got no token"
    );
    assert_eq!(count(&app, SYNCED).await, 39);
}

const SIGNUPS: usize = 100;
const SYNCED: &str = "SELECT count(*) AS n FROM api_keys WHERE newapi_synced";

/// After an outage: every key lands exactly once and works.
async fn all_land_once(app: &tollgate_testkit::TestApp, newapi: &NewapiSim, users: &[String]) {
    wait_for_count(app, SYNCED, SIGNUPS as i64, Duration::from_secs(60)).await;
    assert_eq!(new_api_users(newapi).await.len(), SIGNUPS);
    let tokens = new_api_tokens(newapi).await;
    assert_eq!(tokens.len(), SIGNUPS);
    let distinct: std::collections::BTreeSet<_> = tokens.iter().map(|t| t.1).collect();
    assert_eq!(distinct.len(), SIGNUPS);
    let keys = owned_keys(app, &users[0]).await;
    assert_eq!(
        gateway_status(newapi, keys[0].key.as_deref().unwrap()).await,
        200
    );
}

async fn a_stalled_database_loses_nothing(backend: NewapiBackend) {
    let env = spawn_database(backend).await;
    // Warm up: the layout is read and a connection made before the stall.
    signed_up(&env.app, &uuid::Uuid::new_v4().to_string()).await;
    let unlock = {
        let url = env.newapi.db.url().to_owned();
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut conn = NewapiConn::establish(&url).await.unwrap();
            let statements: &[&str] = match backend {
                NewapiBackend::Postgres => {
                    &["BEGIN", "LOCK TABLE users, tokens IN ACCESS EXCLUSIVE MODE"]
                }
                NewapiBackend::Mysql => &["LOCK TABLES users WRITE, tokens WRITE"],
            };
            for s in statements {
                with_conn!(&mut conn, |c| diesel::sql_query(*s).execute(c).await).unwrap();
            }
            locked_tx.send(()).unwrap();
            release_rx.await.ok();
            let end = match backend {
                NewapiBackend::Postgres => "COMMIT",
                NewapiBackend::Mysql => "UNLOCK TABLES",
            };
            with_conn!(&mut conn, |c| diesel::sql_query(end).execute(c).await).unwrap();
        });
        locked_rx.await.unwrap();
        (release_tx, task)
    };
    let users = many_signups(&env.app, SIGNUPS - 1, 25).await;
    assert_eq!(key_rows(&env.app).await, SIGNUPS as i64);
    assert_eq!(
        count(&env.app, SYNCED).await,
        1,
        "nothing landed while locked"
    );
    // The client's timeout, the server's lock timeout or the pool's wait, whichever first.
    wait_for_count(
        &env.app,
        "SELECT count(*) AS n FROM api_keys WHERE sync_error IS NOT NULL",
        (SIGNUPS - 1) as i64,
        Duration::from_secs(20),
    )
    .await;
    unlock.0.send(()).unwrap();
    unlock.1.await.unwrap();
    all_land_once(&env.app, &env.newapi, &users).await;
}

async fn an_unreachable_database_loses_nothing(backend: NewapiBackend) {
    let newapi = newapi_sim(backend).await;
    let (gate, through_gate) = database_behind_gate(&newapi).await;
    gate.close();
    let app = spawn_with(move |db| database_settings(db, &through_gate)).await;
    let users = many_signups(&app, SIGNUPS, 25).await;
    assert_eq!(key_rows(&app).await, SIGNUPS as i64);
    assert_eq!(count(&app, SYNCED).await, 0);
    wait_for_count(
        &app,
        "SELECT count(*) AS n FROM api_keys WHERE sync_error LIKE '%unreachable%'",
        SIGNUPS as i64,
        Duration::from_secs(20),
    )
    .await;
    gate.open();
    all_land_once(&app, &newapi, &users).await;
}

async fn an_old_schema_works(backend: NewapiBackend) {
    let db = newapi_db_before_2025_12(backend).await;
    let newapi = newapi_sim_with(db, None).await;
    let app = spawn_database_against(&newapi).await;
    let user = uuid::Uuid::new_v4().to_string();
    let body = signed_up(&app, &user).await;
    assert!(body.synced, "{body:?}");
    let keys = owned_keys(&app, &user).await;
    let full = keys[0].key.as_deref().unwrap();
    assert_eq!(gateway_status(&newapi, full).await, 200);
    let tokens = new_api_tokens(&newapi).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].2.as_deref(), full.strip_prefix("sk-"));
    let users: Vec<(i64, Option<String>, Option<NaiveDateTime>)> = {
        let mut conn = newapi_conn(&newapi).await;
        with_conn!(&mut conn, |c| {
            users::table
                .select((users::id, users::username, users::deleted_at))
                .load(c)
                .await
        })
        .unwrap()
    };
    assert_eq!(users.len(), 1);
    assert_eq!(
        users[0].1.as_deref(),
        Some(expected_username(&user).as_str())
    );
}
