//! new-api's own table layout — `tokens`, `logs` and (part of) `users` — as GORM's
//! AutoMigrate creates it on PostgreSQL and MySQL/MariaDB, for the gateway simulator,
//! Tollgate's read-only usage-stats service and test data generators.
//!
//! - [`schema`]: `diesel::table!` definitions (all non-key columns nullable, like GORM's);
//! - [`Token`], [`NewToken`], [`Log`], [`NewLog`], [`User`], [`NewUser`]: row types;
//! - [`Backend`], [`ddl`], [`create_tables`]: the DDL per backend;
//! - [`NewapiConn`], [`NewapiPool`], [`with_conn!`]: one code path for both backends;
//! - [`scratch`]: throw-away databases for tests.
//!
//! Facts new-api consumers rely on: keys are stored without `sk-`; `logs.created_at` and
//! `logs.use_time` are seconds; consume logs have `type = 2`; `logs` has single-column
//! `token_id` and `(created_at, type)` indexes but **no** `(token_id, created_at)` index.

#![warn(missing_docs)]

mod cache_keys;
mod conn;
mod ddl;
mod error;
mod models;
mod pool;
pub mod schema;
pub mod scratch;

pub use cache_keys::{token_cache_key, user_cache_key};
pub use conn::{create_tables, AsNewapiConn, NewapiConn, NewapiConnRef};
pub use ddl::{
    ddl, ddl_before_2025_12, Backend, CLICKHOUSE_LOGS, LOG_INDEXES, TOKEN_INDEXES, USER_INDEXES,
};
pub use error::NewapiDbError;
pub use models::{
    log_type, token_status, Log, NewLog, NewToken, NewUser, Token, User, NEVER_EXPIRES,
};
pub use pool::{NewapiPool, NewapiPooledConn};

/// Re-exported so users of [`with_conn!`] need no direct dependency to name the types.
pub use diesel_async;
