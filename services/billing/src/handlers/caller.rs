//! The caller of an org route, from `Authorization: Bearer …`: the operator's `ADMIN_TOKEN`
//! (compared in constant time), else a Supabase access token verified like key-sync and
//! usage-stats do (`tollgate_supabase_auth`), when billing is given `SUPABASE_JWT_SECRET`
//! or `SUPABASE_URL`.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use secrecy::ExposeSecret;
use tollgate_domain::signature::bearer_matches;
use tollgate_supabase_auth::{AuthUser, JwtVerifier};
use tollgate_web::admin::AdminToken;
use tollgate_web::ApiError;

use crate::access::Caller;

/// The extractor's wrapper (the service layer's [`Caller`] knows no actix).
pub struct CallerOf(pub Caller);

impl FromRequest for CallerOf {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let operator = req
            .app_data::<web::Data<AdminToken>>()
            .is_some_and(|token| bearer_matches(given, token.0.expose_secret()));
        if operator {
            return Box::pin(async { Ok(CallerOf(Caller::Operator)) });
        }
        if req.app_data::<web::Data<JwtVerifier>>().is_none() {
            return Box::pin(async { Err(ApiError::Unauthorized("admin token required".into())) });
        }
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { Ok(CallerOf(Caller::User(user.await?.0.sub))) })
    }
}
