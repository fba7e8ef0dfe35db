//! Incoming webhooks: signed limit events, LiteLLM's budget alerts and Stripe events.

use actix_web::{web, HttpRequest, HttpResponse};
use tollgate_web::ApiError;

use crate::state::AppState;

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/litellm/limit-exceeded`.
pub async fn limit_exceeded(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let answer = state
        .limit_webhooks
        .handle(
            &body,
            header(&req, "x-webhook-signature"),
            header(&req, "x-webhook-id"),
        )
        .await?;
    Ok(HttpResponse::build(answer.status).json(answer.body))
}

/// `POST /webhooks/litellm/budget?token=…`.
pub async fn litellm_budget(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned());
    let answer = state.litellm_alerts.handle(&body, token.as_deref()).await?;
    Ok(HttpResponse::build(answer.status).json(answer.body))
}

/// `POST /webhooks/stripe`.
pub async fn stripe(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let answer = state
        .stripe_webhooks
        .handle(&body, header(&req, "stripe-signature"))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
