//! `/v1/models` authentication and billed chat completions against Postgres and MariaDB.

use crate::common;

use common::{random_key, start};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use newapi_sim::pricing::{completion_tokens, find_model, prompt_tokens_for_chars, quota_for};
use reqwest::StatusCode;
use serde_json::Value;
use tollgate_newapi_schema::schema::tokens;
use tollgate_newapi_schema::{log_type, token_status, with_conn, Backend};

fn assert_relay_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["type"], "new_api_error", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

async fn unusable_tokens_are_401(backend: Backend) {
    let env = start(backend).await;
    let mut conn = env.conn().await;
    let now = chrono::Utc::now().timestamp();

    let disabled = random_key();
    let id = env.import_ok(&disabled, "u1").await;
    with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(id))
            .set(tokens::status.eq(token_status::DISABLED))
            .execute(c)
            .await
    })
    .unwrap();

    let expired = random_key();
    let expired_id = env.import_ok(&expired, "u1").await;
    with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(expired_id))
            .set(tokens::expired_time.eq(now - 60))
            .execute(c)
            .await
    })
    .unwrap();

    let deleted = random_key();
    let id = env.import_ok(&deleted, "u1").await;
    let deleted_at = chrono::Utc::now().naive_utc();
    with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(id))
            .set(tokens::deleted_at.eq(Some(deleted_at)))
            .execute(c)
            .await
    })
    .unwrap();

    let exhausted = random_key();
    let exhausted_id = env.import_ok(&exhausted, "u1").await;
    with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(exhausted_id))
            .set((
                tokens::unlimited_quota.eq(false),
                tokens::remain_quota.eq(0),
            ))
            .execute(c)
            .await
    })
    .unwrap();

    for key in [&disabled, &expired, &deleted, &exhausted, &random_key()] {
        let (status, body) = env.models(&format!("Bearer sk-{key}")).await;
        assert_relay_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    for authorization in ["", "Bearer ", "Bearer sk-"] {
        let (status, body) = env.models(authorization).await;
        assert_relay_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    let no_header = env.client.get(env.url("/v1/models")).send().await.unwrap();
    assert_eq!(no_header.status(), StatusCode::UNAUTHORIZED);

    // Like new-api, a key found expired or exhausted is marked so.
    assert_eq!(env.token(expired_id).await.status, token_status::EXPIRED);
    assert_eq!(
        env.token(exhausted_id).await.status,
        token_status::EXHAUSTED
    );

    // A limited key with quota left works; a future expiry works.
    let limited = random_key();
    let id = env.import_ok(&limited, "u2").await;
    with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(id))
            .set((
                tokens::unlimited_quota.eq(false),
                tokens::remain_quota.eq(10),
                tokens::expired_time.eq(now + 3600),
            ))
            .execute(c)
            .await
    })
    .unwrap();
    let (status, body) = env.models(&format!("Bearer sk-{limited}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn chat_completion_writes_one_consume_log(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    let token_id = env.import_ok(&key, "chatter").await;
    let before = env.token(token_id).await;

    let content = "Say hello to the simulator, please.";
    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{content}"}}]}}"#
    );
    let (status, answer) = env.chat(&key, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "gpt-4o-mini");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");

    let prompt = prompt_tokens_for_chars("Be brief.".len() + content.len());
    let completion = completion_tokens();
    let quota = quota_for(find_model("gpt-4o-mini").unwrap(), prompt, completion);
    assert_eq!(answer["usage"]["prompt_tokens"], prompt);
    assert_eq!(answer["usage"]["completion_tokens"], completion);
    assert_eq!(answer["usage"]["total_tokens"], prompt + completion);

    let logs = env.all_logs().await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = &logs[0];
    assert_eq!(log.log_type, log_type::CONSUME);
    assert_eq!(log.token_id, token_id);
    assert_eq!(log.user_id, before.user_id);
    assert_eq!(log.username, "chatter");
    assert_eq!(log.token_name, "default");
    assert_eq!(log.model_name, "gpt-4o-mini");
    assert_eq!(log.quota, quota);
    assert_eq!(
        (log.prompt_tokens, log.completion_tokens),
        (prompt, completion)
    );
    assert_eq!(log.channel_id, 1);
    assert_eq!(log.group, "default");
    assert!(!log.is_stream);
    assert!(log.use_time >= 0 && log.use_time <= 2);
    assert!(!log.request_id.is_empty());
    assert!((chrono::Utc::now().timestamp() - log.created_at).abs() < 60);

    let after = env.token(token_id).await;
    assert_eq!(after.used_quota, before.used_quota + quota);
    assert_eq!(
        after.remain_quota, before.remain_quota,
        "unlimited keys keep remain_quota"
    );
    assert!(after.accessed_time >= before.accessed_time);
    assert_eq!(env.sim.stats().completions, 1);

    // Failures bill nothing.
    let (status, answer) = env
        .chat(
            &key,
            r#"{"model":"gpt-9-imaginary","messages":[{"role":"user","content":"x"}]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"]["code"], "model_not_found");
    for malformed in [
        "{",
        r#"{"model":"gpt-4o-mini"}"#,
        r#"{"model":"gpt-4o-mini","messages":[]}"#,
    ] {
        let (status, answer) = env.chat(&key, malformed).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}: {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    let (status, _) = env
        .chat(
            &random_key(),
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.all_logs().await.len(), 1);
    assert_eq!(env.sim.stats().completions, 1);
}

async fn limited_keys_spend_remain_quota(backend: Backend) {
    let env = start(backend).await;
    let key = random_key();
    let token_id = env.import_ok(&key, "limited").await;
    let mut conn = env.conn().await;
    with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(token_id))
            .set((
                tokens::unlimited_quota.eq(false),
                tokens::remain_quota.eq(100_000),
            ))
            .execute(c)
            .await
    })
    .unwrap();
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"abcdefghijklmnop"}]}"#;
    let (status, answer) = env.chat(&key, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let quota = quota_for(find_model("gpt-4o").unwrap(), 4, completion_tokens());
    let token = env.token(token_id).await;
    assert_eq!(token.remain_quota, 100_000 - quota);
    assert_eq!(token.used_quota, quota);
    assert_eq!(env.all_logs().await[0].quota, quota);
}

on_both_backends!(
    unusable_tokens_are_401,
    chat_completion_writes_one_consume_log,
    limited_keys_spend_remain_quota,
);
