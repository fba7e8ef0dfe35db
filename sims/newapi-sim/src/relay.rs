//! The relay routes Tollgate and its users call with a gateway key:
//! `GET /v1/models` and `POST /v1/chat/completions` (canned answer, billed like new-api).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::{json, Value};
use tollgate_newapi_schema::schema::{logs, tokens, users};
use tollgate_newapi_schema::{log_type, with_conn, NewLog, NewapiPooledConn};

use crate::auth::{authenticate, Caller};
use crate::pricing::{
    completion_tokens, find_model, prompt_tokens_for_chars, quota_for, ModelPrice, MODELS,
    MODEL_CREATED, REPLY,
};
use crate::respond::{openai_error, relay_db_error, relay_error, relay_error_with_code};
use crate::state::AppState;

/// The channel every simulated request goes through.
const CHANNEL_ID: i64 = 1;

async fn checkout(state: &AppState) -> Result<NewapiPooledConn, HttpResponse> {
    state.pool.get().await.map_err(|e| relay_db_error(&e))
}

/// Whether the caller's token may use `model` (new-api's per-token model limits).
fn model_allowed(caller: &Caller, model: &str) -> bool {
    let token = &caller.token;
    !token.model_limits_enabled || token.model_limits.split(',').any(|m| m.trim() == model)
}

/// `GET /v1/models`.
pub(crate) async fn list_models(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut conn = match checkout(&state).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let caller = match authenticate(&req, &mut conn, state.cache.as_ref()).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let data: Vec<Value> = MODELS
        .iter()
        .filter(|m| model_allowed(&caller, m.id))
        .map(|m| {
            json!({
                "id": m.id,
                "object": "model",
                "created": MODEL_CREATED,
                "owned_by": m.owned_by,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "success": true, "object": "list", "data": data }))
}

/// What a chat request asks for, once checked.
struct ChatRequest {
    model: &'static ModelPrice,
    prompt_chars: usize,
}

/// Why a chat completion body was refused.
#[derive(Debug)]
enum ChatError {
    /// Malformed request: 400.
    Invalid(String),
    /// No such model: 404 `model_not_found`.
    UnknownModel(String),
}

impl ChatError {
    fn response(&self) -> HttpResponse {
        match self {
            ChatError::Invalid(message) => openai_error(StatusCode::BAD_REQUEST, message, None),
            ChatError::UnknownModel(model) => openai_error(
                StatusCode::NOT_FOUND,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                Some("model_not_found"),
            ),
        }
    }
}

/// Parse and check a chat completion body.
fn parse_chat(body: &[u8]) -> Result<ChatRequest, ChatError> {
    let bad = |message: &str| ChatError::Invalid(message.to_owned());
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(&format!("invalid JSON body: {e}")))?;
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("you must provide a model parameter"))?;
    let messages = value
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("'messages' must be a non-empty array"))?;
    if value.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(bad(
            "newapi-sim does not simulate streaming; send stream=false",
        ));
    }
    let mut prompt_chars = 0;
    for message in messages {
        if !message.is_object() || message.get("role").and_then(Value::as_str).is_none() {
            return Err(bad("every message needs a 'role'"));
        }
        prompt_chars += content_chars(message.get("content"));
    }
    let model = find_model(model).ok_or_else(|| ChatError::UnknownModel(model.to_owned()))?;
    Ok(ChatRequest {
        model,
        prompt_chars,
    })
}

/// Characters of a message `content`: a string, or an array of `{"type":"text","text":…}`.
fn content_chars(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(text)) => text.chars().count(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| t.chars().count())
            .sum(),
        _ => 0,
    }
}

/// new-api's request id: local time digits, nanoseconds and 8 random characters.
fn request_id() -> String {
    let now = chrono::Utc::now();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}{}{}",
        now.format("%Y%m%d%H%M%S"),
        now.timestamp_subsec_nanos(),
        &random[..8]
    )
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let started = chrono::Utc::now().timestamp();
    let mut conn = match checkout(&state).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let caller = match authenticate(&req, &mut conn, state.cache.as_ref()).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let chat = match parse_chat(&body) {
        Ok(c) => c,
        Err(e) => return e.response(),
    };
    if !model_allowed(&caller, chat.model.id) {
        return relay_error(
            StatusCode::FORBIDDEN,
            &format!("this token has no access to model {}", chat.model.id),
        );
    }
    // new-api's billing refuses before relaying while the user's quota is not above 0
    // (`service/billing_session.go`).
    if caller.user_quota <= 0 {
        return relay_error_with_code(
            StatusCode::FORBIDDEN,
            &format!(
                "用户额度不足, 剩余额度: ＄{:.6}",
                f64::from(caller.user_quota) / 500_000.0
            ),
            "insufficient_user_quota",
        );
    }
    let prompt_tokens = prompt_tokens_for_chars(chat.prompt_chars);
    let completion_tokens = completion_tokens();
    let quota = quota_for(chat.model, prompt_tokens, completion_tokens);
    let request_id = request_id();
    let now = chrono::Utc::now().timestamp();
    let token = &caller.token;
    let group = if token.group.is_empty() {
        caller.user_group.clone()
    } else {
        token.group.clone()
    };
    let log = NewLog {
        user_id: token.user_id,
        created_at: now,
        log_type: log_type::CONSUME,
        content: format!(
            "model ratio {}, completion ratio {}, group ratio 1",
            chat.model.model_ratio(),
            chat.model.completion_ratio()
        ),
        username: caller.username.clone(),
        token_name: token.name.clone(),
        model_name: chat.model.id.to_owned(),
        quota,
        prompt_tokens,
        completion_tokens,
        use_time: now - started,
        is_stream: false,
        channel_id: CHANNEL_ID,
        token_id: token.id,
        group,
        ip: String::new(),
        request_id: request_id.clone(),
        other: json!({
            "model_ratio": chat.model.model_ratio(),
            "completion_ratio": chat.model.completion_ratio(),
            "group_ratio": 1,
            "model_price": -1,
        })
        .to_string(),
    };
    let token_id = token.id;
    let user_id = token.user_id;
    let unlimited = token.unlimited_quota;
    let to_clickhouse = state.clickhouse_logs.is_some();
    let billed = with_conn!(&mut conn, |c| {
        c.transaction::<_, diesel::result::Error, _>(async |c| {
            if !to_clickhouse {
                diesel::insert_into(logs::table)
                    .values(&log)
                    .execute(c)
                    .await?;
            }
            // The user pays too: their quota goes down (32-bit columns:
            // the simulator's quotas stay far below 2^31).
            let user_quota = i32::try_from(quota).unwrap_or(i32::MAX);
            diesel::update(users::table.find(user_id))
                .set(users::quota.eq(users::quota - user_quota))
                .execute(c)
                .await?;
            let target = tokens::table.find(token_id);
            if unlimited {
                diesel::update(target)
                    .set((
                        tokens::used_quota.eq(tokens::used_quota + quota),
                        tokens::accessed_time.eq(now),
                    ))
                    .execute(c)
                    .await?;
            } else {
                diesel::update(target)
                    .set((
                        tokens::used_quota.eq(tokens::used_quota + quota),
                        tokens::remain_quota.eq(tokens::remain_quota - quota),
                        tokens::accessed_time.eq(now),
                    ))
                    .execute(c)
                    .await?;
            }
            Ok(())
        })
        .await
    });
    if let Err(e) = billed {
        return relay_db_error(&e);
    }
    if let Some(ch) = &state.clickhouse_logs {
        // new-api writes the log after billing; a failed write loses the log, not the answer.
        if let Err(e) = ch.insert(&log).await {
            tracing::warn!(error = %e, "writing the log to ClickHouse failed");
        }
    }
    state.counters.completion();
    HttpResponse::Ok()
        .insert_header(("X-Oneapi-Request-Id", request_id))
        .json(json!({
            "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            "object": "chat.completion",
            "created": now,
            "model": chat.model.id,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": REPLY },
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_parsing() {
        let ok = parse_chat(
            br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"abcdefgh"}]}"#,
        )
        .ok()
        .unwrap();
        assert_eq!((ok.model.id, ok.prompt_chars), ("gpt-4o-mini", 8));
        let parts = parse_chat(
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"abc"}]}]}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(parts.prompt_chars, 3);
        for bad in [
            &b"not json"[..],
            br#"{"messages":[{"role":"user","content":"x"}]}"#,
            br#"{"model":"gpt-4o","messages":[]}"#,
            br#"{"model":"gpt-4o","messages":[{"content":"x"}]}"#,
            br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}"#,
        ] {
            let response = parse_chat(bad).err().unwrap().response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        let unknown = parse_chat(br#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#);
        let response = unknown.err().unwrap().response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn request_ids_fit_the_column() {
        let id = request_id();
        assert!(id.len() <= 64 && id.len() > 20, "{id}");
    }
}
