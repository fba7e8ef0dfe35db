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
    .route("/v1/keys/{id}", web::patch().to(user::rename))
    .route("/v1/keys/{id}", web::delete().to(user::revoke))
    .route("/v1/keys/{id}/rotate", web::post().to(user::rotate))
    .route("/admin/keys", web::get().to(admin::list))
    .route("/admin/keys/{id}", web::patch().to(admin::rename))
    .route("/admin/keys/{id}", web::delete().to(admin::revoke))
    .route("/admin/keys/{id}/rotate", web::post().to(admin::rotate))
    .route("/admin/keys/{id}/sync", web::post().to(admin::resync))
    .route("/admin/reconcile", web::post().to(admin::reconcile))
    .route(
        "/internal/users/{user_id}/keys",
        web::get().to(internal::user_keys),
    );
}
