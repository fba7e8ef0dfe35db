//! Exact, fresh consumption figures for one gateway key, read from new-api's own tables.

pub mod api_doc;
pub mod auth;
pub mod clickhouse;
pub mod directory;
pub mod edges;
pub mod handlers;
pub mod ingest;
pub mod query;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod tokens;

/// Service name: logs, metrics prefix, CLI messages.
pub const SERVICE: &str = "usage-stats";

/// Port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8082;
