//! Prepaid organisations: signed limit webhooks trigger exactly-once Stripe recharges and KMS quota raises.
//!
//! - [`limit_webhook`]: verify, claim once, decide under the organisation's lock, answer;
//! - [`recharge`]: record → charge → deliver (or refund), shared by every trigger;
//! - [`reconcile`]: finish what a crash or an outage left unfinished;
//! - [`organizations`]: the org API's operations; [`kms`]: the KMS client;
//! - [`store`]: every query; [`views`]: JSON shapes.

pub mod handlers;
pub mod kms;
pub mod limit_webhook;
pub mod litellm;
pub mod metrics;
pub mod organizations;
pub mod recharge;
pub mod reconcile;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod stripe_webhook;
pub mod views;

/// Service name: logs, metrics prefix, CLI messages.
pub const SERVICE: &str = "billing";

/// Port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8083;
