//! usage-stats' OpenAPI 3 document, served at `GET /openapi.json`: every route of
//! [`crate::routes`], described on its handler.

use tollgate_web::openapi::{self, Scheme};
use utoipa::OpenApi;

use crate::handlers::{page, token, usage, user};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate usage-stats",
        description = "What new-api keys consumed, read from new-api's own logs and equal to SQL over them: for a key holder (Bearer sk-…) or a signed-in Supabase user over all their keys. Figures are quota units and USD (QUOTA_PER_UNIT); days and hours are local to `tz`."
    ),
    paths(
        page::page,
        page::asset,
        token::usage,
        token::usage_no_slash,
        usage::detail,
        usage::chart,
        usage::logs,
        usage::logs_csv,
        user::detail,
        user::chart,
        user::logs,
        user::logs_csv,
    ),
    tags(
        (name = "key", description = "One new-api key's usage, for whoever holds the key."),
        (name = "user", description = "A signed-in user's usage over all their keys (revoked ones included)."),
        (name = "page", description = "The usage page for key holders."),
        (name = "service", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// The whole document: usage-stats' routes and the web kit's.
pub fn document() -> utoipa::openapi::OpenApi {
    openapi::complete(ApiDoc::openapi(), &[Scheme::ApiKey, Scheme::SupabaseJwt])
}
