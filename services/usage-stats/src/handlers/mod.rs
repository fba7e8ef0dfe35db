//! HTTP handlers: extract → parse → call → map.

pub mod token;
pub mod usage;
