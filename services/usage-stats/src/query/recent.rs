//! A key's logs newest first: ids from Tollgate's log index, full rows from new-api by
//! primary key (only columns every new-api version has).

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tollgate_db::PreparedExt;
use tollgate_newapi_schema::schema::logs;
use tollgate_newapi_schema::{with_conn, NewapiDbError, NewapiPool};

use super::model::{LogView, QueryError};
use super::range::{Page, Range};

/// Set first in the transaction of a query that walks the log index's key backwards with a
/// `LIMIT`. Without statistics on a token (a generic plan, or a fresh table) the planner
/// expects a few hundred rows per token and prefers a bitmap scan plus a sort, which reads
/// every row of a heavy token in the range (a million: 300 ms instead of 0.3 ms). Reading in
/// key order is right for every token, so the alternatives are turned off for this
/// transaction only.
const IN_KEY_ORDER: &str = "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off";

/// Load `query`'s rows in a transaction that reads the log index in key order (see
/// [`IN_KEY_ORDER`]).
pub async fn load_in_key_order<'q, T, Q>(
    conn: &mut AsyncPgConnection,
    query: Q,
) -> diesel::QueryResult<Vec<T>>
where
    T: Send + 'q,
    Q: diesel_async::methods::LoadQuery<'q, AsyncPgConnection, T> + Send + 'q,
{
    conn.transaction(async |c| {
        c.batch_execute(IN_KEY_ORDER).await?;
        query.load(c).await
    })
    .await
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids of the consume logs of `tokens` in `range`, newest first, one page.
pub async fn page_ids(
    conn: &mut AsyncPgConnection,
    tokens: &[i64],
    range: &Range,
    model: Option<&str>,
    page: Page,
) -> Result<Vec<i64>, QueryError> {
    // Per token a backward walk of the log index's key, then the merge, in key order:
    // migrations/2026-12-07-000002_usage_page_ids. A plain `token_id = ANY(…) ORDER BY` would
    // read and sort all of a heavy token's rows in the range (hundreds of thousands) for 20.
    let ids: Vec<Id> = diesel::sql_query("SELECT id FROM usage_page_ids($1, $2, $3, $4, $5, $6)")
        .bind::<Array<BigInt>, _>(tokens)
        .bind::<BigInt, _>(range.start)
        .bind::<BigInt, _>(range.end)
        .bind::<Text, _>(model.unwrap_or(""))
        .bind::<BigInt, _>(page.offset())
        .bind::<BigInt, _>(page.size)
        .prepared()
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

type Row = (
    i64,
    Option<i64>,
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
                logs::token_id,
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
            let (prompt, completion) = (r.5.unwrap_or_default(), r.6.unwrap_or_default());
            let quota = r.4.unwrap_or_default();
            LogView {
                id: r.0,
                token_id: r.1.unwrap_or_default(),
                created_at: r.2.unwrap_or_default(),
                model_name: r.3.unwrap_or_default(),
                quota,
                quota_usd: usd(quota),
                prompt_tokens: prompt,
                completion_tokens: completion,
                tokens: prompt + completion,
                use_time: r.7.unwrap_or_default(),
                is_stream: r.8.unwrap_or_default(),
                content: r.9.unwrap_or_default(),
                key_id: None,
                key_name: None,
            }
        })
        .collect();
    let order: std::collections::HashMap<i64, usize> =
        ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    views.sort_by_key(|v| order.get(&v.id).copied());
    Ok(views)
}
