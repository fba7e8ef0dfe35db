//! Prepaid organisations: signed limit webhooks trigger exactly-once Stripe recharges and KMS quota raises.

pub mod routes;
pub mod settings;
pub mod startup;

/// Service name: logs, metrics prefix, CLI messages.
pub const SERVICE: &str = "billing";

/// Port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8083;
