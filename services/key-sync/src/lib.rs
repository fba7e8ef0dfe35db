//! Gives every new user a gateway key within a second: key pool, new-api sync, user and admin APIs.

pub mod routes;
pub mod settings;
pub mod startup;

/// Service name: logs, metrics prefix, CLI messages.
pub const SERVICE: &str = "key-sync";

/// Port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8081;
