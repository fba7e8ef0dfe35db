//! The route table of billing. `/health`, `/ready` and `/metrics` come from the web kit.

use actix_web::web;

use crate::handlers::{console, organizations as orgs, webhooks};

/// Register every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/webhooks/litellm/limit-exceeded",
        web::post().to(webhooks::limit_exceeded),
    )
    .route(
        "/webhooks/litellm/budget",
        web::post().to(webhooks::litellm_budget),
    )
    .route("/webhooks/stripe", web::post().to(webhooks::stripe))
    .route("/api/organizations", web::get().to(orgs::list))
    .route("/api/organizations", web::post().to(orgs::create))
    .route("/api/organizations/{id}", web::get().to(orgs::get))
    .route("/api/organizations/{id}", web::patch().to(orgs::update))
    .route(
        "/api/organizations/{id}/payment-method",
        web::post().to(orgs::payment_method),
    )
    .route("/api/organizations/{id}/sync", web::post().to(orgs::sync))
    .route(
        "/api/organizations/{id}/recharge",
        web::post().to(orgs::recharge),
    )
    .route(
        "/api/organizations/{id}/recharge-history",
        web::get().to(orgs::recharge_history),
    )
    .route(
        "/api/organizations/{id}/webhook-events",
        web::get().to(orgs::webhook_events),
    )
    .route("/api/organizations/{id}/usage", web::get().to(orgs::usage))
    .route("/api/organizations/{id}/audit", web::get().to(orgs::audit))
    .route(
        "/api/organizations/{id}/members",
        web::get().to(orgs::members),
    )
    .route(
        "/api/organizations/{id}/members",
        web::post().to(orgs::add_member),
    )
    .route(
        "/api/organizations/{id}/members/{user_id}",
        web::delete().to(orgs::remove_member),
    )
    .route("/admin", web::get().to(console::page))
    .route("/admin/{file}", web::get().to(console::asset));
}
