//! The integration tests of `usage-stats`, one binary for all of them: each file is a module, so
//! the crate and its dependencies are linked once rather than once per file.

#[macro_use]
mod support;

mod clickhouse;
mod differential;
mod edges;
mod figures;
mod foundation;
mod holes;
mod ingest;
mod openapi;
mod page;
mod readonly;
mod token;
mod user;
