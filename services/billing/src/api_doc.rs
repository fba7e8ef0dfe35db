//! billing's OpenAPI 3 document, served at `GET /openapi.json`: every route of
//! [`crate::routes`], described on its handler.

use tollgate_web::openapi::{self, Scheme};
use utoipa::OpenApi;

use crate::handlers::{console, organizations as orgs, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate billing",
        description = "Prepaid organisations on a KMS or a LiteLLM proxy: balances, card recharges through Stripe (manual, and automatic when usage nears the prepaid amount), members, audit, and the webhooks that move money. Amounts are US dollars with at most two decimals."
    ),
    paths(
        webhooks::limit_exceeded,
        webhooks::litellm_budget,
        webhooks::stripe,
        orgs::list,
        orgs::create,
        orgs::get,
        orgs::update,
        orgs::payment_method,
        orgs::sync,
        orgs::recharge,
        orgs::recharge_history,
        orgs::webhook_events,
        orgs::usage,
        orgs::audit,
        orgs::members,
        orgs::add_member,
        orgs::remove_member,
        console::page,
        console::asset,
    ),
    tags(
        (name = "organizations", description = "Organisations, their balance and recharges: the operator sees all, a member (Supabase user) their own."),
        (name = "members", description = "Who may see and steer an organisation (operator only)."),
        (name = "webhooks", description = "Signed events that may move money."),
        (name = "console", description = "The operator's console."),
        (name = "service", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// The whole document: billing's routes and the web kit's.
pub fn document() -> utoipa::openapi::OpenApi {
    openapi::complete(
        ApiDoc::openapi(),
        &[
            Scheme::AdminToken,
            Scheme::SupabaseJwt,
            Scheme::WebhookSignature,
            Scheme::AlertToken,
            Scheme::StripeSignature,
        ],
    )
}
