//! `POST /api/token/import` against Postgres and MariaDB.

use crate::common;

use common::{import_body, random_key, start, ADMIN};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::json;
use tollgate_newapi_schema::schema::users;
use tollgate_newapi_schema::{with_conn, Backend, User};

async fn import_then_key_works(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    let id = env
        .import_ok(&key, "11111111-2222-3333-4444-555555555555")
        .await;
    assert!(id > 0);

    let token = env.token(id).await;
    assert_eq!(token.key, key);
    assert_eq!((token.status, token.expired_time), (1, -1));
    assert!(token.unlimited_quota);
    assert_eq!(token.group, "default");
    assert_eq!(token.name, "default");
    assert!(token.created_time > 1_700_000_000);
    let mut conn = env.conn().await;
    let (user, external): (User, Option<String>) = with_conn!(&mut conn, |c| {
        users::table
            .find(token.user_id)
            .select((User::as_select(), users::external_user_id))
            .first(c)
            .await
    })
    .unwrap();
    assert_eq!(
        external.as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(user.status, 1);
    assert!(user.quota > 0, "imported users can relay");

    for authorization in [
        format!("Bearer sk-{key}"),
        format!("Bearer sk-{key}-3"),
        format!("Bearer {key}"),
    ] {
        let (status, body) = env.models(&authorization).await;
        assert_eq!(status, StatusCode::OK, "{authorization}: {body}");
        assert_eq!(body["object"], "list");
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"gpt-4o-mini"), "{body}");
        assert_eq!(body["data"][0]["object"], "model");
    }

    let stats = env.sim.stats();
    assert_eq!((stats.import_calls, stats.tokens_created), (1, 1));
    let served: serde_json::Value = env
        .client
        .get(env.url("/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served,
        json!({"import_calls": 1, "tokens_created": 1, "completions": 0})
    );
}

async fn reimport_is_idempotent(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    let first = env.import_ok(&key, "user-a").await;
    let second = env.import_ok(&key, "user-a").await;
    assert_eq!(first, second);
    assert_eq!(env.tokens_with_key(&key).await.len(), 1);
    // A second key for the same user reuses the user.
    let other = env.import_ok(&random_key(), "user-a").await;
    assert_ne!(other, first);
    assert_eq!(
        env.token(other).await.user_id,
        env.token(first).await.user_id
    );
    let stats = env.sim.stats();
    assert_eq!((stats.import_calls, stats.tokens_created), (3, 2));
}

async fn concurrent_identical_imports_make_one_token(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = env.client.clone();
        let url = env.url("/api/token/import");
        let body = import_body(&key, "concurrent-user");
        tasks.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["success"], true, "{body}");
            body["data"]["token_id"].as_i64().unwrap()
        });
    }
    let ids: Vec<i64> = tasks.join_all().await;
    assert_eq!(ids.len(), 20);
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(env.tokens_with_key(&key).await.len(), 1);
    let mut conn = env.conn().await;
    let user_count: i64 =
        with_conn!(&mut conn, |c| users::table.count().get_result(c).await).unwrap();
    assert_eq!(user_count, 1);
    let stats = env.sim.stats();
    assert_eq!((stats.import_calls, stats.tokens_created), (20, 1));
}

async fn same_key_for_another_user_is_refused(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    let id = env.import_ok(&key, "owner").await;
    let (status, body) = env.import_json(&import_body(&key, "intruder")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], false, "{body}");
    assert!(!body["message"].as_str().unwrap().is_empty());
    let tokens = env.tokens_with_key(&key).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].id, id);
    assert_eq!(tokens[0].external_user_id.as_deref(), Some("owner"));
}

async fn bad_requests_answer_success_false(backend: Backend) {
    let env = start(backend).await;
    let good = random_key();
    let bodies = [
        import_body(&good[..47], "u"),
        import_body(&format!("{good}x"), "u"),
        import_body(&format!("sk-{}", &good[..45]), "u"),
        import_body(&format!("sk-{good}"), "u"),
        import_body(&format!("{}-", &good[..47]), "u"),
        import_body(&format!("{}_", &good[..47]), "u"),
        import_body(&good, ""),
        import_body(&good, &"x".repeat(65)),
        json!({"external_user_id": "u", "name": "default", "unlimited_quota": true}),
        json!({"key": good, "name": "default", "unlimited_quota": true}),
        json!({"key": good, "external_user_id": "u", "unlimited_quota": true}),
        json!({"key": good, "external_user_id": "u", "name": "default"}),
        json!({"key": 42, "external_user_id": "u", "name": "default", "unlimited_quota": true}),
        json!([1, 2, 3]),
    ];
    for body in &bodies {
        let (status, answer) = env.import_json(body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(answer["success"], false, "{body} → {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    for raw in ["{not json", ""] {
        let response = env
            .client
            .post(env.url("/api/token/import"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["success"], false);
    }
    assert_eq!(env.sim.stats().tokens_created, 0);
}

async fn wrong_admin_token_is_401(backend: Backend) {
    let env = start(backend).await;
    let body = import_body(&random_key(), "u");
    let url = env.url("/api/token/import");
    let wrong = env
        .client
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    let missing = env.client.post(&url).json(&body).send().await.unwrap();
    let unprefixed = env
        .client
        .post(&url)
        .header("authorization", ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    for response in [wrong, missing, unprefixed] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["success"], false);
        assert!(answer["message"].is_string());
    }
    assert_eq!(env.sim.stats().tokens_created, 0);
}

on_both_backends!(
    import_then_key_works,
    reimport_is_idempotent,
    concurrent_identical_imports_make_one_token,
    same_key_for_another_user_is_refused,
    bad_requests_answer_success_false,
    wrong_admin_token_is_401,
);
