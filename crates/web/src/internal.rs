//! `Authorization: Bearer $INTERNAL_TOKEN` for the routes Tollgate's services call on each
//! other (`/internal/*`), compared in constant time. Without a configured token those routes
//! are closed (503), never open.

use secrecy::{ExposeSecret, SecretString};
use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use tollgate_domain::signature::bearer_matches;

use crate::ApiError;

/// The configured internal token (`None`: the internal API is off), registered as app data.
#[derive(Clone)]
pub struct InternalToken(pub Option<SecretString>);

/// Proof that the request carried the internal token: take it as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct Internal;

impl FromRequest for Internal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let configured = req
            .app_data::<web::Data<InternalToken>>()
            .and_then(|t| t.0.clone())
            .filter(|t| !t.expose_secret().is_empty());
        ready(match configured {
            None => Err(ApiError::Unavailable(
                "the internal API is off (INTERNAL_TOKEN is not set)".into(),
            )),
            Some(token) if bearer_matches(given, token.expose_secret()) => Ok(Internal),
            Some(_) => Err(ApiError::Unauthorized("internal token required".into())),
        })
    }
}
