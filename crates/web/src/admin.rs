//! `Authorization: Bearer $ADMIN_TOKEN` for admin routes, compared in constant time.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use secrecy::{ExposeSecret, SecretString};
use tollgate_domain::signature::bearer_matches;

use crate::ApiError;

/// The configured admin token, registered by the server as app data.
#[derive(Clone)]
pub struct AdminToken(pub SecretString);

/// Proof that the request carried the admin token: take it as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let ok = req
            .app_data::<web::Data<AdminToken>>()
            .is_some_and(|token| bearer_matches(given, token.0.expose_secret()));
        ready(if ok {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("admin token required".into()))
        })
    }
}
