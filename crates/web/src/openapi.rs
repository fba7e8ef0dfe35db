//! OpenAPI 3: the parts every service's document shares (the kit's own routes, the error
//! body, the security schemes) and `GET /openapi.json`.
//!
//! A service describes its routes with `#[utoipa::path]` on the handlers and one
//! `#[derive(OpenApi)]` listing them; [`complete`] adds what the kit serves and the
//! security schemes the service's paths name. The server renders the document once and
//! serves it as is.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

/// A security scheme a service's paths may name in `security((...))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `admin_token`: `Authorization: Bearer <ADMIN_TOKEN>`.
    AdminToken,
    /// `supabase_jwt`: `Authorization: Bearer <Supabase access token>` (HS256 or JWKS).
    SupabaseJwt,
    /// `internal_token`: `Authorization: Bearer <INTERNAL_TOKEN>`, between Tollgate services.
    InternalToken,
    /// `api_key`: `Authorization: Bearer sk-…`, a new-api key.
    ApiKey,
    /// `webhook_secret`: `Authorization: Bearer <SUPABASE_WEBHOOK_SECRET>`.
    WebhookSecret,
    /// `webhook_signature`: `X-Webhook-Signature: sha256=<HMAC of the body>`.
    WebhookSignature,
    /// `alert_token`: `?token=<LITELLM_ALERT_TOKEN>` on LiteLLM's unsigned alerts.
    AlertToken,
    /// `stripe_signature`: `Stripe-Signature: t=…,v1=…`.
    StripeSignature,
}

impl Scheme {
    /// The name paths refer to.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::AdminToken => "admin_token",
            Scheme::SupabaseJwt => "supabase_jwt",
            Scheme::InternalToken => "internal_token",
            Scheme::ApiKey => "api_key",
            Scheme::WebhookSecret => "webhook_secret",
            Scheme::WebhookSignature => "webhook_signature",
            Scheme::AlertToken => "alert_token",
            Scheme::StripeSignature => "stripe_signature",
        }
    }

    fn scheme(self) -> SecurityScheme {
        let bearer = |format: Option<&str>, what: &str| {
            let mut http = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(what));
            if let Some(format) = format {
                http = http.bearer_format(format);
            }
            SecurityScheme::Http(http.build())
        };
        let header = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what)))
        };
        match self {
            Scheme::AdminToken => bearer(None, "The operator's ADMIN_TOKEN."),
            Scheme::SupabaseJwt => bearer(
                Some("JWT"),
                "A Supabase access token: aud `authenticated`, not expired.",
            ),
            Scheme::InternalToken => bearer(None, "INTERNAL_TOKEN, shared by Tollgate services."),
            Scheme::ApiKey => bearer(Some("sk-…"), "A new-api key (`sk-` is optional)."),
            Scheme::WebhookSecret => bearer(
                None,
                "SUPABASE_WEBHOOK_SECRET, sent by the Supabase Database Webhook.",
            ),
            Scheme::WebhookSignature => header(
                "X-Webhook-Signature",
                "`sha256=` and the hex HMAC-SHA256 of the raw body under WEBHOOK_SECRET.",
            ),
            Scheme::AlertToken => SecurityScheme::ApiKey(ApiKey::Query(
                ApiKeyValue::with_description("token", "LITELLM_ALERT_TOKEN."),
            )),
            Scheme::StripeSignature => header(
                "Stripe-Signature",
                "Stripe's `t=…,v1=…` signature of the raw body under STRIPE_WEBHOOK_SECRET.",
            ),
        }
    }
}

/// The kit's own routes: `/health`, `/ready`, `/metrics`, `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    paths(crate::health::health, crate::health::ready, metrics, openapi_json),
    components(schemas(crate::error::ErrorBody))
)]
struct KitDoc;

/// `service`'s document with the kit's routes, the error schema and `schemes` added.
pub fn complete(mut service: Document, schemes: &[Scheme]) -> Document {
    service.merge(KitDoc::openapi());
    let components = service.components.get_or_insert_with(Default::default);
    for scheme in schemes {
        components.add_security_scheme(scheme.name(), scheme.scheme());
    }
    service
}

/// The rendered document `GET /openapi.json` serves.
#[derive(Clone)]
pub struct Rendered(web::Bytes);

impl Rendered {
    /// Render `doc` once.
    pub fn new(doc: &Document) -> Self {
        Self(web::Bytes::from(
            doc.to_json().expect("an OpenAPI document renders"),
        ))
    }
}

/// Register `GET /openapi.json` serving `rendered`.
pub fn routes(cfg: &mut web::ServiceConfig, rendered: Rendered) {
    cfg.app_data(web::Data::new(rendered))
        .route("/openapi.json", web::get().to(serve));
}

async fn serve(doc: web::Data<Rendered>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(doc.0.clone())
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "This OpenAPI 3 document.", content_type = "application/json", body = Object))
)]
#[allow(dead_code)] // described here, served by `serve`
fn openapi_json() {}

/// `GET /metrics`: Prometheus text exposition (the metrics middleware answers it).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain", body = String))
)]
#[allow(dead_code)] // described here, served by actix-web-prom
fn metrics() {}
