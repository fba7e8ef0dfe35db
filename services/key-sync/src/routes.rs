//! The route table of key-sync. `/health`, `/ready` and `/metrics` come from the web kit.

use actix_web::web;

/// Register every route of the service.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
