//! HTTP handlers: extract → parse → call → map.

pub mod page;
pub mod token;
pub mod usage;
pub mod user;
