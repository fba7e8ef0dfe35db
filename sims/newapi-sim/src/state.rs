//! Shared state of a running simulator: database pool, admin token and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tollgate_newapi_schema::NewapiPool;

use crate::clickhouse_logs::ClickHouseLogs;
use crate::token_cache::TokenCache;

/// Everything a handler needs; registered as `web::Data<AppState>`.
pub(crate) struct AppState {
    pub(crate) pool: NewapiPool,
    pub(crate) admin_token: String,
    pub(crate) counters: Arc<Counters>,
    /// new-api's Redis token cache, when configured.
    pub(crate) cache: Option<TokenCache>,
    /// Logs go to ClickHouse instead of `logs` (new-api's `LOG_SQL_DSN`).
    pub(crate) clickhouse_logs: Option<ClickHouseLogs>,
}

/// Monotonic counters, shared with [`SimHandle`](crate::SimHandle).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    import_calls: AtomicU64,
    tokens_created: AtomicU64,
    completions: AtomicU64,
}

impl Counters {
    pub(crate) fn import_call(&self) {
        self.import_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_created(&self) {
        self.tokens_created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn completion(&self) {
        self.completions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SimStats {
        SimStats {
            import_calls: self.import_calls.load(Ordering::Relaxed),
            tokens_created: self.tokens_created.load(Ordering::Relaxed),
            completions: self.completions.load(Ordering::Relaxed),
        }
    }
}

/// Counters since start, as served by `GET /_sim/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// `POST /api/token/import` requests that reached the handler (faulted ones excluded).
    pub import_calls: u64,
    /// Tokens the import API inserted (idempotent repeats excluded).
    pub tokens_created: u64,
    /// Successful, billed chat completions.
    pub completions: u64,
}

/// `GET /_sim/stats`.
pub(crate) async fn stats(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.counters.snapshot())
}
