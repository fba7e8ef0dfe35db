//! A key's logs newest first: ids from Tollgate's log index, full rows from new-api by
//! primary key (only columns every new-api version has).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use tollgate_newapi_schema::schema::logs;
use tollgate_newapi_schema::{with_conn, NewapiDbError, NewapiPool};

use super::pieces::QueryError;

/// One consume log as its key holder sees it.
#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    /// `logs.id`.
    pub id: i64,
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
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    log_id: i64,
}

/// Ids of `token`'s consume logs in `[start, end]`, newest first, one page.
pub async fn page_ids(
    conn: &mut AsyncPgConnection,
    token: i64,
    start: i64,
    end: i64,
    model: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<i64>, QueryError> {
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT log_id FROM usage_log_index \
         WHERE token_id = $1 AND created_at BETWEEN $2 AND $3 AND ($4 = '' OR model_name = $4) \
         ORDER BY created_at DESC, log_id DESC OFFSET $5 LIMIT $6",
    )
    .bind::<BigInt, _>(token)
    .bind::<BigInt, _>(start)
    .bind::<BigInt, _>(end)
    .bind::<Text, _>(model.unwrap_or(""))
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(ids.into_iter().map(|i| i.log_id).collect())
}

type Row = (
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<String>,
);

/// The logs `ids` from new-api, in the order of `ids`.
pub async fn fetch(
    pool: &NewapiPool,
    ids: &[i64],
    usd: impl Fn(i64) -> f64,
) -> Result<Vec<LogView>, QueryError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.get().await?;
    let rows: Vec<Row> = with_conn!(&mut conn, |c| {
        logs::table
            .filter(logs::id.eq_any(ids))
            .select((
                logs::id,
                logs::created_at,
                logs::model_name,
                logs::quota,
                logs::prompt_tokens,
                logs::completion_tokens,
                logs::use_time,
                logs::is_stream,
                logs::content,
            ))
            .load(c)
            .await
    })
    .map_err(NewapiDbError::from)?;
    let mut views: Vec<LogView> = rows
        .into_iter()
        .map(|r| {
            let (prompt, completion) = (r.4.unwrap_or_default(), r.5.unwrap_or_default());
            let quota = r.3.unwrap_or_default();
            LogView {
                id: r.0,
                created_at: r.1.unwrap_or_default(),
                model_name: r.2.unwrap_or_default(),
                quota,
                quota_usd: usd(quota),
                prompt_tokens: prompt,
                completion_tokens: completion,
                tokens: prompt + completion,
                use_time: r.6.unwrap_or_default(),
                is_stream: r.7.unwrap_or_default(),
                content: r.8.unwrap_or_default(),
            }
        })
        .collect();
    views.sort_by_key(|v| ids.iter().position(|&id| id == v.id));
    Ok(views)
}
