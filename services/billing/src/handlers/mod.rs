//! HTTP handlers: extract → parse → call → map.

pub mod caller;
pub mod console;
pub mod organizations;
pub mod webhooks;
