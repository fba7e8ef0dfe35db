//! The plain values queries produce and the caches keep: figures, log rows, errors.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};
use tollgate_newapi_schema::NewapiDbError;

/// Figures of one model counted at one instant (the start of the unit they belong to).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Figures {
    /// The unit's start (or the range's, in its first unit), unix seconds.
    #[diesel(sql_type = BigInt)]
    pub at: i64,
    /// Model.
    #[diesel(sql_type = Text)]
    pub model_name: String,
    /// Consume logs.
    #[diesel(sql_type = BigInt)]
    pub requests: i64,
    /// Quota.
    #[diesel(sql_type = BigInt)]
    pub quota: i64,
    /// Prompt tokens.
    #[diesel(sql_type = BigInt)]
    pub prompt_tokens: i64,
    /// Completion tokens.
    #[diesel(sql_type = BigInt)]
    pub completion_tokens: i64,
    /// Seconds.
    #[diesel(sql_type = BigInt)]
    pub use_time: i64,
}

impl Figures {
    /// Nothing yet, at `at` for `model_name`.
    pub fn zero(at: i64, model_name: String) -> Self {
        Self {
            at,
            model_name,
            requests: 0,
            quota: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            use_time: 0,
        }
    }
}

/// One consume log as its key holder sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogView {
    /// `logs.id`.
    pub id: i64,
    /// `logs.token_id`: which key, for the per-user views.
    #[serde(skip)]
    pub token_id: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Model.
    pub model_name: String,
    /// Quota charged.
    pub quota: i64,
    /// Quota in USD.
    pub quota_usd: f64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Prompt + completion.
    pub tokens: i64,
    /// Seconds.
    pub use_time: i64,
    /// Streamed.
    pub is_stream: bool,
    /// new-api's description.
    pub content: String,
    /// key-sync's id of the key (per-user views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<uuid::Uuid>,
    /// The key's name (per-user views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
}

/// Why figures or logs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Tollgate's database.
    #[error("tollgate database: {0}")]
    Tollgate(#[from] diesel::result::Error),
    /// A Tollgate connection could not be had.
    #[error("tollgate database: {0}")]
    Pool(#[from] tollgate_db::DbError),
    /// new-api's database.
    #[error("new-api database: {0}")]
    Newapi(#[from] NewapiDbError),
    /// new-api's logs in ClickHouse.
    #[error("{0}")]
    ClickHouse(#[from] crate::clickhouse::ChError),
    /// A concurrent load of the same cached value failed (that load logged why).
    #[error("a shared load failed: {0}")]
    Shared(String),
}

impl From<tollgate_db::CheckoutError> for QueryError {
    fn from(e: tollgate_db::CheckoutError) -> Self {
        QueryError::Pool(e.into())
    }
}
