//! Tollgate's domain: pure types and rules with no framework or I/O dependency.
//!
//! - [`money`]: integer cents, parsed from and shown as dollars with at most two decimals;
//! - [`api_key`]: Tollgate's gateway keys: CSPRNG generation, hash, display hint;
//! - [`key_cipher`]: AES-256-GCM encryption of keys at rest;
//! - [`ids`]: newtype ids;
//! - [`gateway_key`]: how new-api reads a bearer key (`sk-` prefix, channel suffix);
//! - [`signature`]: constant-time secret comparison and HMAC-SHA256 webhook signatures;
//! - [`backoff`]: capped exponential retry schedules with jitter;
//! - [`usage`]: rollup buckets and range planning for usage figures;
//! - [`user_keys`]: what key-sync tells other services about a user's keys;
//! - [`zone`]: fixed offsets and IANA zones, and their local days and hours;
//! - [`recharge`]: prepaid-balance policy: when to recharge, how much, and the fee.

pub mod api_key;
pub mod backoff;
pub mod gateway_key;
pub mod ids;
pub mod key_cipher;
pub mod money;
pub mod page;
pub mod recharge;
pub mod signature;
pub mod usage;
pub mod user_keys;
pub mod zone;
