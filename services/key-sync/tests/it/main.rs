//! The integration tests of `key-sync`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

#[macro_use]
mod support;

mod admin;
mod database_gateway;
mod database_mode;
mod foundation;
mod internal;
mod jwt;
mod lifecycle;
mod logs;
mod openapi;
mod supabase_sql;
mod sync;
mod user_api;
mod webhook;
