//! HTTP handlers: extract → parse → call → map.

pub mod token;
