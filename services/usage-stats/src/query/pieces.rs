//! Loading a range's figures: whole buckets from the rollups (one query), raw edges from
//! new-api's `logs` (its `(created_at, type)` index serves these sub-15-minute windows).

use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_domain::usage::{split, Piece, DAY, HOUR, QUARTER};
use tollgate_newapi_schema::schema::logs;
use tollgate_newapi_schema::{log_type, with_conn, NewapiDbError, NewapiPool};

use super::cache::ResultCache;

/// Figures at one instant (a bucket start, or a raw log's time) for one model.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Figures {
    /// Bucket start or log time, unix seconds.
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

/// Why figures could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Tollgate's database.
    #[error("tollgate database: {0}")]
    Tollgate(#[from] diesel::result::Error),
    /// new-api's database.
    #[error("new-api database: {0}")]
    Newapi(#[from] NewapiDbError),
    /// A concurrent load of the same cached edge failed.
    #[error("{0}")]
    Shared(String),
}

/// Rollup sizes whose buckets never straddle a local day or hour of `offset`.
pub fn sizes_for(offset: i64) -> &'static [i64] {
    if offset.rem_euclid(DAY) == 0 {
        &[DAY, HOUR, QUARTER]
    } else if offset.rem_euclid(HOUR) == 0 {
        &[HOUR, QUARTER]
    } else {
        &[QUARTER]
    }
}

fn table(size: i64) -> &'static str {
    match size {
        DAY => "usage_day",
        HOUR => "usage_hour",
        _ => "usage_quarter",
    }
}

/// A range's figures, in parts (the whole buckets, then each raw edge) that may be shared
/// with caches.
#[derive(Debug, Default)]
pub struct FigureSet(Vec<Arc<Vec<Figures>>>);

impl FigureSet {
    /// Every figure, part after part.
    pub fn iter(&self) -> impl Iterator<Item = &Figures> {
        self.0.iter().flat_map(|part| part.iter())
    }
}

/// Every figure of `token` in `[start, end]`, optionally for one model.
pub async fn load(
    tollgate: &mut AsyncPgConnection,
    src: &Sources<'_>,
    token: i64,
    start: i64,
    end: i64,
    sizes: &[i64],
    model: Option<&str>,
) -> Result<FigureSet, QueryError> {
    let pieces = split(start, end, sizes);
    let raw = pieces.iter().filter_map(|p| match *p {
        Piece::Raw { first, last } => Some(load_edge(src, token, first, last, model)),
        Piece::Buckets { .. } => None,
    });
    // The rollups (Tollgate) and the edges (new-api) are independent: ask both at once.
    let (buckets, edges) = tokio::try_join!(
        cached_buckets(tollgate, src, token, &pieces, model),
        futures_util::future::try_join_all(raw),
    )?;
    let mut parts = Vec::with_capacity(1 + edges.len());
    parts.push(buckets);
    parts.extend(edges);
    Ok(FigureSet(parts))
}

async fn cached_buckets(
    tollgate: &mut AsyncPgConnection,
    src: &Sources<'_>,
    token: i64,
    pieces: &[Piece],
    model: Option<&str>,
) -> Result<Arc<Vec<Figures>>, QueryError> {
    let Some((cache, version)) = src.cached else {
        return Ok(Arc::new(
            load_buckets(tollgate, token, pieces, model).await?,
        ));
    };
    let spans: Vec<(i64, i64, i64)> = pieces
        .iter()
        .filter_map(|p| match *p {
            Piece::Buckets { size, first, last } => Some((size, first, last)),
            Piece::Raw { .. } => None,
        })
        .collect();
    if spans.is_empty() {
        return Ok(Arc::new(Vec::new()));
    }
    let key = (token, version, spans, model.unwrap_or("").to_owned());
    cache
        .buckets
        .try_get_with(key, async {
            load_buckets(tollgate, token, pieces, model)
                .await
                .map(Arc::new)
        })
        .await
        .map_err(|e| QueryError::Shared(e.to_string()))
}

/// Raw edge figures of windows that can no longer change, keyed by
/// `(token, first, last, model)`.
pub type EdgeCache = moka::future::Cache<(i64, i64, i64, String), Arc<Vec<Figures>>>;

/// A window whose end is this far in the past is settled: new-api stamps `created_at` when
/// it writes a log, so no new row can land in it.
pub const SETTLED_SECS: i64 = 15 * 60;

/// The edge cache: settled windows for up to 10 minutes, at most 50 000 of them.
pub fn edge_cache() -> EdgeCache {
    moka::future::Cache::builder()
        .max_capacity(50_000)
        .time_to_live(std::time::Duration::from_secs(600))
        .build()
}

/// Where figures come from besides Tollgate's rollups: new-api's logs (through the cache of
/// settled windows), and the cache of answers under the token's version, when it is on.
pub struct Sources<'a> {
    /// new-api's logs database.
    pub pool: &'a NewapiPool,
    /// Settled windows.
    pub cache: &'a EdgeCache,
    /// Now (unix seconds): what is settled is judged against it.
    pub now: i64,
    /// The result cache and the token's version, read before anything else.
    pub cached: Option<(&'a ResultCache, i64)>,
}

async fn load_edge(
    edges: &Sources<'_>,
    token: i64,
    first: i64,
    last: i64,
    model: Option<&str>,
) -> Result<Arc<Vec<Figures>>, QueryError> {
    if last >= edges.now - SETTLED_SECS {
        return Ok(Arc::new(
            load_raw(edges.pool, token, first, last, model).await?,
        ));
    }
    let key = (token, first, last, model.unwrap_or("").to_owned());
    edges
        .cache
        .try_get_with(key, async {
            load_raw(edges.pool, token, first, last, model)
                .await
                .map(Arc::new)
        })
        .await
        .map_err(|e| QueryError::Shared(e.to_string()))
}

async fn load_buckets(
    conn: &mut AsyncPgConnection,
    token: i64,
    pieces: &[Piece],
    model: Option<&str>,
) -> Result<Vec<Figures>, QueryError> {
    let parts: Vec<String> = pieces
        .iter()
        .filter_map(|p| match *p {
            // Numbers only, formatted by us: safe to inline.
            Piece::Buckets { size, first, last } => Some(format!(
                "SELECT bucket AS at, model_name, requests, quota, prompt_tokens, completion_tokens, use_time \
                 FROM {} WHERE token_id = $1 AND bucket BETWEEN {first} AND {last} \
                 AND ($2 = '' OR model_name = $2)",
                table(size)
            )),
            Piece::Raw { .. } => None,
        })
        .collect();
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(diesel::sql_query(parts.join(" UNION ALL "))
        .bind::<BigInt, _>(token)
        .bind::<Text, _>(model.unwrap_or(""))
        .load(conn)
        .await?)
}

type RawRow = (
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

async fn load_raw(
    pool: &NewapiPool,
    token: i64,
    first: i64,
    last: i64,
    model: Option<&str>,
) -> Result<Vec<Figures>, QueryError> {
    let mut conn = pool.get().await?;
    let rows: Vec<RawRow> = with_conn!(&mut conn, |c| {
        let mut q = logs::table
            .filter(logs::created_at.between(first, last))
            .filter(logs::type_.eq(log_type::CONSUME))
            // `token_id + 0`, not `token_id`: a sub-15-minute window holds few rows of any
            // token, while a heavy token has millions. Hiding the column from the planner
            // keeps the `(created_at, type)` index whatever the statistics say (a fresh
            // Postgres table without ANALYZE otherwise ANDs a bitmap of all the token's
            // rows: seconds per request at 1 M rows).
            .filter((logs::token_id + 0_i64).eq(token))
            .select((
                logs::created_at,
                logs::model_name,
                logs::quota,
                logs::prompt_tokens,
                logs::completion_tokens,
                logs::use_time,
            ))
            .into_boxed();
        if let Some(m) = model {
            q = q.filter(logs::model_name.eq(m));
        }
        q.load(c).await
    })
    .map_err(NewapiDbError::from)?;
    // One figure per (quarter, model): local days and hours are whole quarters, so every
    // chart bucket gets the same sums as from the rows themselves.
    let mut sums: std::collections::BTreeMap<(i64, String), Figures> = Default::default();
    for r in rows {
        let at = r.0.unwrap_or_default();
        let quarter = tollgate_domain::usage::bucket_of(at, QUARTER).max(first);
        let model_name = r.1.unwrap_or_default();
        let f = sums
            .entry((quarter, model_name.clone()))
            .or_insert_with(|| Figures {
                at: quarter,
                model_name,
                requests: 0,
                quota: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
                use_time: 0,
            });
        f.requests += 1;
        f.quota += r.2.unwrap_or_default();
        f.prompt_tokens += r.3.unwrap_or_default();
        f.completion_tokens += r.4.unwrap_or_default();
        f.use_time += r.5.unwrap_or_default();
    }
    Ok(sums.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_never_straddle_local_boundaries() {
        assert_eq!(sizes_for(0), &[DAY, HOUR, QUARTER]);
        assert_eq!(sizes_for(8 * HOUR), &[HOUR, QUARTER]);
        assert_eq!(sizes_for(-5 * HOUR), &[HOUR, QUARTER]);
        assert_eq!(sizes_for(5 * HOUR + 1800), &[QUARTER]);
    }
}
