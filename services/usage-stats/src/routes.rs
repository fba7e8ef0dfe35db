//! The route table of usage-stats. `/health`, `/ready` and `/metrics` come from the web kit.

use actix_web::web;

use crate::edges;
use crate::handlers::{page, token, usage, user};

/// Register every route of the service; `cors_origins` may call `/api/usage` from browsers.
pub fn configure(cfg: &mut web::ServiceConfig, cors_origins: &str) {
    cfg.route("/usage", web::get().to(page::page))
        .route("/usage/{file}", web::get().to(page::asset));
    cfg.service(
        web::scope("/api/usage")
            .wrap(edges::cors(cors_origins))
            .route("/token/", web::get().to(token::usage))
            .route("/token", web::get().to(token::usage_no_slash))
            .route("/token/detail", web::get().to(usage::detail))
            .route("/token/chart", web::get().to(usage::chart))
            .route("/token/logs", web::get().to(usage::logs))
            .route("/token/logs.csv", web::get().to(usage::logs_csv))
            .route("/user/detail", web::get().to(user::detail))
            .route("/user/chart", web::get().to(user::chart))
            .route("/user/logs", web::get().to(user::logs))
            .route("/user/logs.csv", web::get().to(user::logs_csv)),
    );
}
