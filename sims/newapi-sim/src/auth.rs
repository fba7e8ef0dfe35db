//! Authentication: the admin bearer token of the management API, and new-api's relay
//! token check (`middleware/auth.go` `TokenAuth` + `model.ValidateUserToken`).

use actix_web::http::{header, StatusCode};
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use subtle::ConstantTimeEq;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{token_status, with_conn, NewapiPooledConn, User};

use crate::token_cache::TokenCache;

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

/// What relay reads of a token: columns every new-api version has.
#[derive(Debug, Clone)]
pub(crate) struct AuthToken {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) name: String,
    pub(crate) unlimited_quota: bool,
    pub(crate) model_limits_enabled: bool,
    pub(crate) model_limits: String,
    pub(crate) group: String,
}

type AuthTokenRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<bool>,
    Option<String>,
    Option<String>,
);

/// An authenticated relay caller.
pub(crate) struct Caller {
    pub(crate) token: AuthToken,
    pub(crate) username: String,
    pub(crate) user_group: String,
    pub(crate) user_quota: i32,
}

/// new-api's answer to a key it does not accept (missing, unknown, disabled, expired or
/// exhausted alike): 401 "Invalid token".
fn invalid_token() -> HttpResponse {
    relay_error(StatusCode::UNAUTHORIZED, "Invalid token")
}

/// Authenticate a relay request as new-api's `TokenAuth` does (`middleware/auth.go`,
/// `model.ValidateUserToken`); on failure the error response to send. With a token cache
/// (Redis), a cached token and user are used without reading the database, as in new-api.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    conn: &mut NewapiPooledConn,
    cache: Option<&TokenCache>,
) -> Result<Caller, HttpResponse> {
    let (key, _channel) = relay_key(req);
    if key.is_empty() {
        return Err(invalid_token());
    }
    let now = chrono::Utc::now().timestamp();
    let cached = match cache {
        Some(cache) => cache.token(&key).await,
        None => None,
    };
    let (row, from_cache) = match cached {
        Some(row) => (row, true),
        None => {
            let found: Option<AuthTokenRow> = with_conn!(conn, |c| {
                tokens::table
                    .filter(tokens::key.eq(&key))
                    .filter(tokens::deleted_at.is_null())
                    .select((
                        tokens::id,
                        tokens::user_id,
                        tokens::status,
                        tokens::name,
                        tokens::expired_time,
                        tokens::remain_quota,
                        tokens::unlimited_quota,
                        tokens::model_limits_enabled,
                        tokens::model_limits,
                        tokens::group,
                    ))
                    .first(c)
                    .await
                    .optional()
            })
            .map_err(|e| relay_db_error(&e))?;
            let Some(row) = found else {
                return Err(invalid_token());
            };
            (row, false)
        }
    };
    let status = row.2.unwrap_or(token_status::ENABLED);
    let expired_time = row.4.unwrap_or(-1);
    let remain_quota = row.5.unwrap_or_default();
    let token = AuthToken {
        id: row.0,
        user_id: row.1.unwrap_or_default(),
        name: row.3.clone().unwrap_or_default(),
        unlimited_quota: row.6.unwrap_or_default(),
        model_limits_enabled: row.7.unwrap_or_default(),
        model_limits: row.8.clone().unwrap_or_default(),
        group: row.9.clone().unwrap_or_default(),
    };
    if status != token_status::ENABLED {
        return Err(invalid_token());
    }
    let expired = expired_time != -1 && expired_time < now;
    let exhausted = !token.unlimited_quota && remain_quota <= 0;
    if expired || exhausted {
        // Like new-api without Redis, a key found expired or exhausted is marked so.
        if cache.is_none() {
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
        }
        return Err(invalid_token());
    }
    if let (Some(cache), false) = (cache, from_cache) {
        cache.put_token(&key, &row).await;
    }
    // Then the user, always (from the cache when it has it): a missing user is a database
    // error (500) in new-api, a disabled one is banned (403).
    let cached_user = match cache {
        Some(cache) => cache.user(token.user_id).await,
        None => None,
    };
    let user = match cached_user {
        Some(user) => user,
        None => {
            let user: Option<User> = with_conn!(conn, |c| {
                users::table
                    .find(token.user_id)
                    .filter(users::deleted_at.is_null())
                    .select(User::as_select())
                    .first(c)
                    .await
                    .optional()
            })
            .map_err(|e| relay_db_error(&e))?;
            let Some(user) = user else {
                return Err(relay_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Database error, please contact the administrator",
                ));
            };
            if let Some(cache) = cache {
                cache.put_user(&user).await;
            }
            user
        }
    };
    if user.status != 1 {
        return Err(relay_error(StatusCode::FORBIDDEN, "User has been banned"));
    }
    Ok(Caller {
        token,
        username: user.username,
        user_group: user.group,
        user_quota: user.quota,
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
