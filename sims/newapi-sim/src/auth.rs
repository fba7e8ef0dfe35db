//! Authentication: the admin bearer token of the management API, and new-api's relay
//! token check (`middleware/auth.go` `TokenAuth` + `model.ValidateUserToken`).

use actix_web::http::{header, StatusCode};
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use subtle::ConstantTimeEq;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{token_status, with_conn, NewapiPooledConn, Token, User};

use crate::respond::{relay_db_error, relay_error};

/// Whether the request carries `Authorization: Bearer <admin_token>` (constant-time compare).
pub(crate) fn is_admin(req: &HttpRequest, admin_token: &str) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Some(presented) = value.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    !admin_token.is_empty() && bool::from(presented.ct_eq(admin_token.as_bytes()))
}

/// The key of a relay request and the channel part after it, as new-api's `TokenAuth`
/// derives them: `Authorization` (or, on model routes, `x-api-key`, `?key=` and
/// `x-goog-api-key`), minus `Bearer `/`bearer `, minus `sk-`, cut at the first `-`.
pub(crate) fn relay_key(req: &HttpRequest) -> (String, Option<String>) {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let path = req.path();
    let mut raw = header("authorization");
    if path.contains("/v1/messages") || path.contains("/v1/models") {
        raw = header("x-api-key").map(|k| format!("Bearer {k}")).or(raw);
    }
    if path == "/v1/models" || path.starts_with("/v1/models/") {
        let query = web::Query::<HashMap<String, String>>::from_query(req.query_string());
        if let Some(key) = query.ok().and_then(|q| q.get("key").cloned()) {
            raw = Some(format!("Bearer {key}"));
        }
        raw = header("x-goog-api-key")
            .map(|k| format!("Bearer {k}"))
            .or(raw);
    }
    let raw = raw.unwrap_or_default();
    let raw = match raw.get(..7) {
        Some("Bearer " | "bearer ") => raw[7..].trim(),
        _ => raw.as_str(),
    };
    let raw = raw.strip_prefix("sk-").unwrap_or(raw);
    match raw.split_once('-') {
        Some((key, rest)) => (key.to_owned(), Some(rest.to_owned())),
        None => (raw.to_owned(), None),
    }
}

/// An authenticated relay caller.
pub(crate) struct Caller {
    pub(crate) token: Token,
    pub(crate) username: String,
    pub(crate) user_group: String,
}

/// Authenticate a relay request; on failure the error response to send.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    conn: &mut NewapiPooledConn,
) -> Result<Caller, HttpResponse> {
    let (key, _channel) = relay_key(req);
    if key.is_empty() {
        return Err(relay_error(StatusCode::UNAUTHORIZED, "no token provided"));
    }
    let now = chrono::Utc::now().timestamp();
    let found: Option<Token> = with_conn!(conn, |c| {
        tokens::table
            .filter(tokens::key.eq(&key))
            .filter(tokens::deleted_at.is_null())
            .select(Token::as_select())
            .first(c)
            .await
            .optional()
    })
    .map_err(|e| relay_db_error(&e))?;
    let Some(token) = found else {
        return Err(relay_error(StatusCode::UNAUTHORIZED, "invalid token"));
    };
    if token.status != token_status::ENABLED {
        return Err(relay_error(
            StatusCode::UNAUTHORIZED,
            "the token is not enabled (disabled, expired or exhausted)",
        ));
    }
    // Like new-api without Redis, a key found expired or exhausted is marked so.
    let expired = token.expired_time != -1 && token.expired_time < now;
    let exhausted = !token.unlimited_quota && token.remain_quota <= 0;
    if expired || exhausted {
        let status = if expired {
            token_status::EXPIRED
        } else {
            token_status::EXHAUSTED
        };
        let marked = with_conn!(conn, |c| {
            diesel::update(tokens::table.find(token.id))
                .set(tokens::status.eq(status))
                .execute(c)
                .await
        });
        if let Err(e) = marked {
            tracing::warn!(error = %e, token_id = token.id, "could not update token status");
        }
        let message = if expired {
            "the token has expired"
        } else {
            "the token's quota is used up"
        };
        return Err(relay_error(StatusCode::UNAUTHORIZED, message));
    }
    // new-api also refuses keys of banned users. A token without a user row (e.g. written by
    // a data generator) is accepted with an empty username.
    let user: Option<User> = with_conn!(conn, |c| {
        users::table
            .find(token.user_id)
            .select(User::as_select())
            .first(c)
            .await
            .optional()
    })
    .map_err(|e| relay_db_error(&e))?;
    if let Some(user) = &user {
        if user.status != 1 {
            return Err(relay_error(StatusCode::FORBIDDEN, "the user is banned"));
        }
    }
    let (username, user_group) = user
        .map(|u| (u.username, u.group))
        .unwrap_or_else(|| (String::new(), "default".to_owned()));
    Ok(Caller {
        token,
        username,
        user_group,
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn relay_key_strips_bearer_sk_and_channel() {
        let req = TestRequest::default()
            .insert_header(("authorization", "Bearer sk-abc123-7"))
            .to_http_request();
        assert_eq!(relay_key(&req), ("abc123".into(), Some("7".into())));
        let req = TestRequest::default()
            .insert_header(("authorization", "Bearer abc123"))
            .to_http_request();
        assert_eq!(relay_key(&req), ("abc123".into(), None));
        let req = TestRequest::default().to_http_request();
        assert_eq!(relay_key(&req), (String::new(), None));
        let req = TestRequest::default()
            .insert_header(("authorization", "bearer  sk-abc"))
            .to_http_request();
        assert_eq!(relay_key(&req).0, "abc");
        let req = TestRequest::with_uri("/v1/models?key=sk-fromquery").to_http_request();
        assert_eq!(relay_key(&req).0, "fromquery");
        let req = TestRequest::with_uri("/v1/models")
            .insert_header(("x-api-key", "sk-anthropic"))
            .to_http_request();
        assert_eq!(relay_key(&req).0, "anthropic");
        let req = TestRequest::with_uri("/v1/chat/completions")
            .insert_header(("x-api-key", "sk-ignored"))
            .to_http_request();
        assert_eq!(relay_key(&req).0, "");
    }

    #[test]
    fn admin_check() {
        let req = TestRequest::default()
            .insert_header(("authorization", "Bearer s3cret"))
            .to_http_request();
        assert!(is_admin(&req, "s3cret"));
        assert!(!is_admin(&req, "s3cre"));
        assert!(!is_admin(&req, ""));
        let req = TestRequest::default()
            .insert_header(("authorization", "s3cret"))
            .to_http_request();
        assert!(!is_admin(&req, "s3cret"));
    }
}
