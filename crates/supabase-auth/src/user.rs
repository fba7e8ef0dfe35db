//! The signed-in Supabase user of a request, as an actix extractor.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tollgate_web::ApiError;

use crate::jwt::{Claims, JwtError, JwtVerifier};

/// The user whose Supabase access token (`Authorization: Bearer <jwt>`) the request carries,
/// verified with the [`JwtVerifier`] in the app data (`web::Data<JwtVerifier>`).
///
/// Rejects with [`ApiError::Unauthorized`] (401) when the token is missing or invalid, and with
/// [`ApiError::Unavailable`] (503) when the token needs the JWKS and it cannot be fetched.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req
            .app_data::<web::Data<JwtVerifier>>()
            .map(|d| d.get_ref().clone())
            .or_else(|| req.app_data::<JwtVerifier>().cloned());
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let verifier = verifier.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("no JwtVerifier in the app data"))
            })?;
            let claims = verifier.verify(&token?).await.map_err(|e| {
                tracing::debug!(error = %e, "user token rejected");
                match e {
                    JwtError::JwksUnavailable(_) => ApiError::Unavailable(
                        "cannot verify the token now: signing keys unavailable".into(),
                    ),
                    other => ApiError::Unauthorized(format!("invalid token: {other}")),
                }
            })?;
            Ok(AuthUser(claims))
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer token".into()))?;
    let not_bearer = || ApiError::Unauthorized("expected Authorization: Bearer <token>".into());
    let (scheme, token) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .ok_or_else(not_bearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(not_bearer());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn token_of(header: Option<&str>) -> Result<String, String> {
        let mut req = TestRequest::default();
        if let Some(h) = header {
            req = req.insert_header((AUTHORIZATION, h));
        }
        let req = req.to_http_request();
        bearer_token(&req)
            .map(str::to_owned)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(token_of(Some("Bearer a.b.c")).unwrap(), "a.b.c");
        assert_eq!(token_of(Some("bearer  a.b.c ")).unwrap(), "a.b.c");
        assert!(token_of(None).unwrap_err().contains("missing"));
        assert!(token_of(Some("Basic dXNlcjpwdw==")).is_err());
        assert!(token_of(Some("Bearer ")).is_err());
        assert!(token_of(Some("Bearer")).is_err());
        assert!(token_of(Some("a.b.c")).is_err());
    }
}
