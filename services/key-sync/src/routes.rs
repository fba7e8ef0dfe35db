//! The route table of key-sync. `/health`, `/ready` and `/metrics` come from the web kit.

use actix_web::web;

use crate::handlers::{admin, internal, user, webhook};

/// Register every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/webhooks/supabase/users",
        web::post().to(webhook::user_created),
    )
    .route("/v1/keys", web::get().to(user::list))
    .route("/v1/keys", web::post().to(user::create))
    .route("/admin/keys", web::get().to(admin::list))
    .route("/admin/keys/{id}/sync", web::post().to(admin::resync))
    .route("/admin/reconcile", web::post().to(admin::reconcile))
    .route(
        "/internal/users/{user_id}/keys",
        web::get().to(internal::user_keys),
    );
}
