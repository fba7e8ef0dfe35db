//! HTTP handlers: extract → parse → call → map.

pub mod organizations;
pub mod webhooks;
