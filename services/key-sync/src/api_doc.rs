//! key-sync's OpenAPI 3 document, served at `GET /openapi.json`: every route of
//! [`crate::routes`], described on its handler.

use tollgate_web::openapi::{self, Scheme};
use utoipa::OpenApi;

use crate::handlers::{admin, internal, user, webhook};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate key-sync",
        description = "API keys for Supabase users, pushed to new-api: the user's own keys, the operator's view of all keys, the signup/deletion webhook and the key directory other Tollgate services read."
    ),
    paths(
        webhook::user_created,
        user::list,
        user::create,
        user::rename,
        user::revoke,
        user::rotate,
        admin::list,
        admin::rename,
        admin::revoke,
        admin::rotate,
        admin::resync,
        admin::reconcile,
        internal::user_keys,
    ),
    tags(
        (name = "keys", description = "The signed-in user's own keys."),
        (name = "admin", description = "The operator's view of every key."),
        (name = "internal", description = "Read by the other Tollgate services."),
        (name = "webhooks", description = "Supabase's Database Webhook on auth.users."),
        (name = "service", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// The whole document: key-sync's routes and the web kit's.
pub fn document() -> utoipa::openapi::OpenApi {
    openapi::complete(
        ApiDoc::openapi(),
        &[
            Scheme::SupabaseJwt,
            Scheme::AdminToken,
            Scheme::InternalToken,
            Scheme::WebhookSecret,
        ],
    )
}
