//! What handlers share.

use std::sync::Arc;

use tollgate_db::PgPool;
use tollgate_newapi_schema::NewapiPool;

use crate::clickhouse::ChLogs;
use crate::directory::KeyDirectory;
use crate::query::cache::ResultCache;

/// Registered as `web::Data<AppState>`.
pub struct AppState {
    /// Quota units per USD.
    pub quota_per_unit: i64,
    /// Tollgate's Postgres (rollups, log index).
    pub pool: PgPool,
    /// new-api's database holding `logs`.
    pub logs: NewapiPool,
    /// Answers under each token's ingest version (`None`: `RESULT_CACHE_MB=0`).
    pub results: Option<ResultCache>,
    /// new-api's logs in ClickHouse, when `NEWAPI_LOG_DATABASE_URL` names it: every figure,
    /// page and export is read there instead of from Tollgate's rollups.
    pub clickhouse: Option<ChLogs>,
    /// Each user's keys (`None`: no `KEY_SYNC_URL`, the per-user view is off).
    pub directory: Option<Arc<dyn KeyDirectory>>,
}

impl AppState {
    /// `quota` in USD, rounded to 6 decimals.
    pub fn usd(&self, quota: i64) -> f64 {
        let usd = quota as f64 / self.quota_per_unit as f64;
        (usd * 1e6).round() / 1e6
    }
}
