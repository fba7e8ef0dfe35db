//! `Authorization: Bearer sk-…` like new-api: the `sk-` prefix is optional and anything from
//! the first `-` after it is ignored. Unknown, disabled, expired and deleted keys → 401 JSON;
//! a key over its rate limit → 429 with `Retry-After`. Per-user routes take a Supabase JWT
//! instead ([`UserAuth`]).

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tollgate_domain::gateway_key::key_from_authorization;
use tollgate_web::ApiError;

use tollgate_domain::ids::UserId;
use tollgate_supabase_auth::AuthUser;

use crate::edges::KeyLimiter;
use crate::state::AppState;
use crate::tokens::{TokenCache, TokenRecord};

/// The authenticated key's token; take it as a handler argument.
pub struct KeyAuth(pub Arc<TokenRecord>);

impl FromRequest for KeyAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(key_from_authorization)
            .map(str::to_owned);
        let cache = req.app_data::<web::Data<TokenCache>>().cloned();
        let limiter = req.app_data::<web::Data<Option<KeyLimiter>>>().cloned();
        Box::pin(async move {
            let key = key.ok_or_else(|| {
                unauthorized("an API key is required: Authorization: Bearer sk-…")
            })?;
            let cache =
                cache.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no token cache")))?;
            let token = cache.get(&key).await.map_err(|e| {
                tracing::warn!(error = %e, "token lookup failed");
                ApiError::Unavailable("new-api's database is unavailable".into())
            })?;
            let token = match token {
                Some(t) if t.usable_at(chrono_now()) => t,
                _ => return Err(unauthorized("invalid, disabled, expired or deleted key")),
            };
            if let Some(limiter) = limiter.as_ref().and_then(|l| l.as_ref().as_ref()) {
                limiter.check(&token.id)?;
            }
            Ok(KeyAuth(token))
        })
    }
}

/// The signed-in Supabase user of a per-user route, within its rate limit. When the per-user
/// view is off (no `KEY_SYNC_URL`) every request gets 503, signed in or not.
pub struct UserAuth(pub UserId);

impl FromRequest for UserAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let enabled = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.directory.is_some());
        let user = AuthUser::from_request(req, payload);
        let limiter = req
            .app_data::<web::Data<Option<KeyLimiter<UserId>>>>()
            .cloned();
        Box::pin(async move {
            if !enabled {
                return Err(ApiError::Unavailable(
                    "the per-user view is off (KEY_SYNC_URL is not set)".into(),
                ));
            }
            let user = user.await?.0.sub;
            if let Some(limiter) = limiter.as_ref().and_then(|l| l.as_ref().as_ref()) {
                limiter.check(&user)?;
            }
            Ok(UserAuth(user))
        })
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized(message.into())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
