//! `POST /webhooks/supabase/users`: a signup gets one working key; repeats and bad input
//! change nothing.

use crate::support;

use key_sync::handlers::views::{IgnoredAnswer, KeyStatus, SignupAnswer, SyncState};
use serde_json::json;
use support::*;
use tollgate_testkit::{answer, error_code};

#[tokio::test]
async fn signup_creates_one_key_that_works_on_the_gateway_right_away() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    let res = post_signup(&env.app, &signup(&user)).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("\"key\""),
        "the answer never carries the key: {text}"
    );
    let body: SignupAnswer = serde_json::from_str(&text).unwrap();
    assert!(body.synced && body.created, "{body:?}");

    assert_eq!(key_rows(&env.app).await, 1);
    assert_eq!(env.newapi.sim.stats().tokens_created, 1);
    let keys = owned_keys(&env.app, &user).await;
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k.id, body.key_id);
    assert!(k.default && k.synced);
    assert_eq!(k.status, KeyStatus::Active);
    assert_eq!(k.sync.state, SyncState::Synced);
    assert!(k.sync.newapi_token_id.is_some() && k.sync.error.is_none());
    let key = k.key.as_deref().unwrap();
    assert!(key.starts_with("sk-") && key.len() == 51, "{key}");
    assert!(!key[3..].contains('-'));
    assert_eq!(gateway_status(&env.newapi, key).await, 200);
    assert_eq!(k.hint, format!("sk-…{}", &key[key.len() - 4..]));
}

#[tokio::test]
async fn the_same_delivery_twenty_times_at_once_makes_one_key_and_one_import() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    let body = signup(&user);
    let answers =
        futures_util::future::join_all((0..20).map(|_| post_signup(&env.app, &body))).await;
    let mut key_ids = std::collections::HashSet::new();
    let mut created = 0;
    for res in answers {
        let body: SignupAnswer = answer(res, 200).await;
        key_ids.insert(body.key_id);
        if body.created {
            created += 1;
        }
    }
    assert_eq!(key_ids.len(), 1, "every answer names the same key");
    assert_eq!(created, 1);
    assert_eq!(key_rows(&env.app).await, 1);
    let stats = env.newapi.sim.stats();
    assert_eq!((stats.import_calls, stats.tokens_created), (1, 1));
    // A later repeat answers the synced state without importing again.
    let again: SignupAnswer = answer(post_signup(&env.app, &body).await, 200).await;
    assert!(
        again.synced && !again.created,
        "{again:?} {:?}",
        owned_keys(&env.app, &user).await
    );
    assert_eq!(env.newapi.sim.stats().import_calls, 1);
}

async fn assert_nothing_stored(env: &Env) {
    assert_eq!(key_rows(&env.app).await, 0);
    assert_eq!(env.newapi.sim.stats().import_calls, 0);
}

#[tokio::test]
async fn missing_or_wrong_secret_is_401_and_stores_nothing() {
    let env = spawn().await;
    let body = signup(&uuid::Uuid::new_v4().to_string());
    let url = env.app.url("/webhooks/supabase/users");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(WEBHOOK_SECRET),
        Some("Basic x"),
    ] {
        let mut req = env.app.client.post(&url).json(&body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(error_code(res, 401).await, "unauthorized", "{auth:?}");
    }
    assert_nothing_stored(&env).await;
}

#[tokio::test]
async fn bad_bodies_are_400_and_store_nothing() {
    let env = spawn().await;
    let url = env.app.url("/webhooks/supabase/users");
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed json", "{\"type\":\"INSERT\",".into(), "invalid_json"),
        ("not an object", "[1,2]".into(), "invalid_body"),
        ("wrong types", json!({"type": 5, "table": "users", "schema": "auth"}).to_string(), "invalid_body"),
        ("no record", json!({"type": "INSERT", "table": "users", "schema": "auth"}).to_string(), "missing_user_id"),
        ("no record.id", json!({"type": "INSERT", "table": "users", "schema": "auth", "record": {"email": "a@b"}}).to_string(), "missing_user_id"),
        ("non-uuid id", signup("not-a-uuid").to_string(), "invalid_user_id"),
        ("numeric id", json!({"type": "INSERT", "table": "users", "schema": "auth", "record": {"id": 42}}).to_string(), "invalid_user_id"),
    ];
    for (what, body, code) in cases {
        let res = env
            .app
            .client
            .post(&url)
            .bearer_auth(WEBHOOK_SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res, 400).await, code, "{what}");
    }
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000));
    let res = env
        .app
        .client
        .post(&url)
        .bearer_auth(WEBHOOK_SECRET)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 413).await, "payload_too_large");
    assert_nothing_stored(&env).await;
}

#[tokio::test]
async fn other_tables_and_events_are_ignored() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    let mut other_table = signup(&user);
    other_table["table"] = json!("identities");
    let mut update = signup(&user);
    update["type"] = json!("UPDATE");
    let mut other_schema = signup(&user);
    other_schema["schema"] = json!("public");
    for body in [other_table, update, other_schema] {
        let ignored: IgnoredAnswer = answer(post_signup(&env.app, &body).await, 200).await;
        assert!(ignored.ignored, "{ignored:?}");
    }
    assert_nothing_stored(&env).await;
}

#[tokio::test]
async fn no_column_of_api_keys_holds_a_plaintext_key() {
    let env = spawn().await;
    let users = many_signups(&env.app, 5, 5).await;
    let mut keys = Vec::new();
    for user in &users {
        for k in owned_keys(&env.app, user).await {
            keys.push(k.key.as_deref().unwrap()[3..].to_owned());
        }
    }
    assert_eq!(keys.len(), 5);
    // Every column of every row, as text (bytea shows as hex) and as raw bytes.
    let mut conn = env.app.db.connect().await;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        raw: Vec<u8>,
    }
    use diesel_async::RunQueryDsl;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT t::text AS text, convert_to(t::text, 'UTF8') || key_ciphertext || key_hash AS raw FROM api_keys t",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    for row in rows {
        for key in &keys {
            assert!(!row.text.contains(key.as_str()), "plaintext key in a row");
            let hex_key: String = key.bytes().map(|b| format!("{b:02x}")).collect();
            assert!(!row.text.contains(&hex_key), "hex-encoded key in a row");
            assert!(!row.raw.windows(key.len()).any(|w| w == key.as_bytes()));
        }
    }
}

#[tokio::test]
async fn on_supabase_a_signup_for_an_unknown_user_is_404_and_stores_nothing() {
    use diesel_async::SimpleAsyncConnection;
    let env = spawn().await;
    let mut conn = env.app.db.connect().await;
    conn.batch_execute(include_str!(
        "../../../../deploy/supabase/test/supabase_stub.sql"
    ))
    .await
    .unwrap();
    conn.batch_execute(include_str!(
        "../../../../deploy/supabase/01_api_keys_rls.sql"
    ))
    .await
    .unwrap();
    let known = uuid::Uuid::new_v4();
    conn.batch_execute(&format!(
        "INSERT INTO auth.users (id, email) VALUES ('{known}', 'k@x')"
    ))
    .await
    .unwrap();
    let res = post_signup(&env.app, &signup(&uuid::Uuid::new_v4().to_string())).await;
    assert_eq!(error_code(res, 404).await, "not_found");
    assert_nothing_stored(&env).await;
    assert!(signed_up(&env.app, &known.to_string()).await.synced);
}
