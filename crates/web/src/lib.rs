//! The web kit every Tollgate service is built on.
//!
//! - [`settings`]: layered configuration (defaults → optional file → flat env names);
//! - [`telemetry`]: JSON logs in production, readable logs locally;
//! - [`error`]: one [`ApiError`] and one JSON error shape for every failure, including
//!   extractor failures (malformed JSON, wrong types, oversized bodies) and unknown routes;
//! - [`request_id`]: `x-request-id` in and out, on every log line of the request;
//! - [`health`]: `/health` and `/ready` with pluggable readiness checks;
//! - [`metrics`]: `/metrics` in Prometheus text, per-route counts and latency histograms;
//! - [`server`]: the actix server with all of the above, graceful shutdown on SIGTERM/SIGINT;
//! - [`http_client`]: outbound HTTP with timeouts;
//! - [`admin`], [`internal`]: bearer-token guards of operator and service-to-service routes;
//! - [`openapi`]: the shared parts of every service's OpenAPI 3 document, `/openapi.json`;
//! - [`cli`]: the `serve` / `migrate` entry point shared by the three binaries.

pub mod admin;
pub mod app;
pub mod cli;
pub mod error;
pub mod health;
pub mod http_client;
pub mod internal;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod request_id;
pub mod server;
pub mod settings;
pub mod telemetry;

pub use admin::Admin;
pub use app::Application;
pub use error::ApiError;
pub use health::{Readiness, ReadyCheck};
pub use internal::{Internal, InternalToken};
pub use paging::Paging;
pub use server::{serve, ServerOptions};
pub use settings::{CommonSettings, SettingsError};
