//! The actix server every service runs: common middleware, extractor limits, health,
//! readiness, metrics, JSON 404s, and graceful shutdown on SIGTERM/SIGINT (actix's own
//! signal handling: stop accepting, let in-flight requests finish within the timeout).

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use prometheus::Registry;

use crate::{error, health, metrics, openapi, request_id, Readiness};

/// What a service hands to [`serve`] besides its routes.
#[derive(Clone)]
pub struct ServerOptions {
    /// Service name: metric prefix and log field.
    pub service: &'static str,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Time in-flight requests get after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Checks behind `/ready`.
    pub readiness: Readiness,
    /// Registry served at `/metrics`; register service metrics here too.
    pub registry: Registry,
    /// The bearer token [`Admin`](crate::Admin) routes require.
    pub admin_token: secrecy::SecretString,
    /// The service's whole OpenAPI 3 document (see [`openapi::complete`]), served at
    /// `/openapi.json`.
    pub openapi: utoipa::openapi::OpenApi,
}

/// Start serving on `listener` with the service's routes from `configure`.
pub fn serve<F>(
    listener: TcpListener,
    options: ServerOptions,
    configure: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let http_metrics = metrics::http_metrics(options.service, options.registry.clone());
    let limit = options.body_limit;
    let readiness = web::Data::new(options.readiness.clone());
    let admin_token = web::Data::new(crate::admin::AdminToken(options.admin_token.clone()));
    let document = openapi::Rendered::new(&options.openapi);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(error::json_config(limit))
            .app_data(error::payload_config(limit))
            .app_data(error::query_config())
            .app_data(error::path_config())
            .app_data(readiness.clone())
            .app_data(admin_token.clone())
            // The last `wrap` runs first: request id → metrics → JSON error shaping.
            .wrap(error::json_errors())
            .wrap(http_metrics.clone())
            .wrap(from_fn(request_id::middleware))
            .configure(health::routes)
            .configure(|cfg| openapi::routes(cfg, document.clone()))
            .configure(configure.clone())
            .default_service(web::to(error::not_found))
    })
    .listen(listener)?
    .shutdown_timeout(options.shutdown_timeout.as_secs())
    .run();
    Ok(server)
}
