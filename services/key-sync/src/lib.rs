//! key-sync: every new user gets a gateway key within a second, never lost, never doubled.
//!
//! The signup webhook creates the user's default key (CSPRNG, stored only encrypted, hashed
//! and hinted) and pushes it to new-api in the same request; a sync worker retries what did
//! not land, with backoff and jitter, safely across replicas. Users read their own keys with
//! their Supabase JWT; operators list, re-sync and reconcile.

pub mod api_doc;
pub mod gateway;
pub mod handlers;
pub mod keys;
pub mod metrics;
pub mod routes;
pub mod settings;
pub mod signups;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod users_store;

/// Service name: logs, metrics prefix, CLI messages.
pub const SERVICE: &str = "key-sync";

/// Port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8081;
