//! Reading new-api's `logs`, by primary key only (no index of new-api's is assumed beyond it).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::schema::logs;
use tollgate_newapi_schema::{with_conn, NewapiDbError, NewapiPool};

/// What ingest needs of a log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// `logs.id`.
    pub id: i64,
    /// `logs.token_id` (0 when none).
    pub token_id: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// `logs.type`.
    pub kind: i64,
    /// Model.
    pub model_name: String,
    /// Quota charged.
    pub quota: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Seconds.
    pub use_time: i64,
}

type Tuple = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn row(t: Tuple) -> LogRow {
    LogRow {
        id: t.0,
        token_id: t.1.unwrap_or_default(),
        created_at: t.2.unwrap_or_default(),
        kind: t.3.unwrap_or_default(),
        model_name: t.4.unwrap_or_default(),
        quota: t.5.unwrap_or_default(),
        prompt_tokens: t.6.unwrap_or_default(),
        completion_tokens: t.7.unwrap_or_default(),
        use_time: t.8.unwrap_or_default(),
    }
}

macro_rules! columns {
    () => {
        (
            logs::id,
            logs::token_id,
            logs::created_at,
            logs::type_,
            logs::model_name,
            logs::quota,
            logs::prompt_tokens,
            logs::completion_tokens,
            logs::use_time,
        )
    };
}

/// Up to `limit` logs with `id > after`, in id order.
pub async fn read_after(
    pool: &NewapiPool,
    after: i64,
    limit: i64,
) -> Result<Vec<LogRow>, NewapiDbError> {
    let mut conn = pool.get().await?;
    let rows: Vec<Tuple> = with_conn!(&mut conn, |c| {
        logs::table
            .filter(logs::id.gt(after))
            .order(logs::id.asc())
            .limit(limit)
            .select(columns!())
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().map(row).collect())
}

/// Ids asked for per query when re-reading gaps.
const IDS_PER_QUERY: usize = 5_000;

/// The logs among `ids` that exist now.
pub async fn read_ids(pool: &NewapiPool, ids: &[i64]) -> Result<Vec<LogRow>, NewapiDbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.get().await?;
    let mut found = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows: Vec<Tuple> = with_conn!(&mut conn, |c| {
            logs::table
                .filter(logs::id.eq_any(chunk))
                .select(columns!())
                .load(c)
                .await
        })?;
        found.extend(rows.into_iter().map(row));
    }
    Ok(found)
}

/// new-api's newest log: its id and `created_at` (`None` while `logs` is empty).
pub async fn read_tip(pool: &NewapiPool) -> Result<Option<(i64, i64)>, NewapiDbError> {
    let mut conn = pool.get().await?;
    let tip: Option<(i64, Option<i64>)> = with_conn!(&mut conn, |c| {
        logs::table
            .order(logs::id.desc())
            .select((logs::id, logs::created_at))
            .first(c)
            .await
            .optional()
    })?;
    Ok(tip.map(|(id, at)| (id, at.unwrap_or_default())))
}
