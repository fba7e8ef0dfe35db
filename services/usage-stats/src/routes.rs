//! The route table of usage-stats. `/health`, `/ready` and `/metrics` come from the web kit.

use actix_web::web;

use crate::handlers::{token, usage};

/// Register every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/usage/token/", web::get().to(token::usage))
        .route("/api/usage/token", web::get().to(token::usage))
        .route("/api/usage/token/detail", web::get().to(usage::detail))
        .route("/api/usage/token/chart", web::get().to(usage::chart))
        .route("/api/usage/token/logs", web::get().to(usage::logs));
}
