//! HTTP handlers: extract → parse → call [`Keys`](crate::keys::Keys) → map.

pub mod admin;
pub mod user;
pub mod views;
pub mod webhook;
