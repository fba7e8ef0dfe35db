//! Prepaid organisations: signed limit webhooks trigger exactly-once Stripe recharges and KMS quota raises.
//!
//! - [`limit_webhook`] (signed) and [`litellm_alert`] (LiteLLM's own alerts, a URL token):
//!   verify and parse, then [`event_desk`]: claim once, answer every copy the same;
//! - [`auto_recharge`]: decide under the organisation's lock, shared with the [`poller`];
//! - [`recharge`]: record → charge → deliver (or refund), shared by every trigger;
//! - [`reconcile`]: finish what a crash or an outage left unfinished;
//! - [`organizations`]: the org API's operations; [`kms`] and [`litellm`]: the quota
//!   backends;
//! - [`store`]: every query; [`views`] and [`answers`]: JSON shapes.

pub mod access;
pub mod alerts;
pub mod answers;
pub mod api_doc;
pub mod auto_recharge;
pub mod event_desk;
pub mod handlers;
pub mod kms;
pub mod limit_webhook;
pub mod litellm;
pub mod litellm_alert;
pub mod membership;
pub mod metrics;
pub mod month_usage;
pub mod organizations;
pub mod payment_events;
pub mod poller;
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
