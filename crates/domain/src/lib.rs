//! Tollgate's domain: pure types and rules with no framework or I/O dependency.
//!
//! - [`money`]: integer cents, parsed from and shown as dollars with at most two decimals;
//! - [`gateway_key`]: how new-api reads a bearer key (`sk-` prefix, channel suffix);
//! - [`signature`]: constant-time secret comparison and HMAC-SHA256 webhook signatures;
//! - [`backoff`]: capped exponential retry schedules with jitter.

pub mod backoff;
pub mod gateway_key;
pub mod money;
pub mod signature;
