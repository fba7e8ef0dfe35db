//! Incoming webhooks: signed limit events, LiteLLM's budget alerts and Stripe events.

use actix_web::{web, HttpRequest, HttpResponse};
use tollgate_web::error::ErrorBody;
use tollgate_web::ApiError;

use crate::state::AppState;
use crate::views::{EventAnswer, StripeAnswer};

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/litellm/limit-exceeded`.
#[utoipa::path(
    post,
    path = "/webhooks/litellm/limit-exceeded",
    tag = "webhooks",
    security(("webhook_signature" = [])),
    params(("X-Webhook-Id" = Option<String>, Header, description = "The delivery's id: copies of one event get its first answer.")),
    request_body(content = Object, description = "The KMS's limit event (docs/contracts.md#kms)."),
    responses(
        (status = 200, description = "What the event did (`auto_recharged`, `not_needed`, `payment_failed`, …); a copy gets the first answer.", body = EventAnswer),
        (status = 202, description = "The first copy of this event is still being worked on (`processing`).", body = EventAnswer),
        (status = 400, description = "`invalid_json` or an invalid event.", body = ErrorBody),
        (status = 401, description = "A missing or wrong signature.", body = ErrorBody),
        (status = 404, description = "No such organisation.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "`refunded` with error `quota_not_delivered` (charged and refunded), or a dependency is unavailable (the common error body, which this schema also describes).", body = EventAnswer),
    )
)]
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
#[utoipa::path(
    post,
    path = "/webhooks/litellm/budget",
    tag = "webhooks",
    security(("alert_token" = [])),
    request_body(content = Object, description = "LiteLLM's budget alert (`budget_crossed`; docs/contracts.md#litellm-proxy)."),
    responses(
        (status = 200, description = "What the alert did, or `ignored` when it is not about a team's budget.", body = EventAnswer),
        (status = 202, description = "The first copy of this alert is still being worked on (`processing`).", body = EventAnswer),
        (status = 400, description = "`invalid_json` or an invalid alert.", body = ErrorBody),
        (status = 401, description = "A missing or wrong token.", body = ErrorBody),
        (status = 404, description = "No such organisation.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "`refunded` with error `quota_not_delivered`, or LITELLM_ALERT_TOKEN or a dependency is unavailable (the common error body, which this schema also describes).", body = EventAnswer),
    )
)]
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
#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "webhooks",
    security(("stripe_signature" = [])),
    request_body(content = Object, description = "A Stripe event (payment_intent.*, charge.refunded, charge.dispute.*)."),
    responses(
        (status = 200, description = "Applied, or ignored (an event type billing does not act on).", body = StripeAnswer),
        (status = 400, description = "`invalid_json`, a bad signature or timestamp, or not a Stripe event.", body = ErrorBody),
        (status = 413, description = "Body over REQUEST_BODY_LIMIT.", body = ErrorBody),
        (status = 503, description = "STRIPE_WEBHOOK_SECRET is not set, or the database is unavailable: Stripe retries.", body = ErrorBody),
    )
)]
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
