//! Incoming webhooks: LiteLLM limit events and Stripe events.

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
