//! Loading a range's figures: whole buckets from the rollups (one query), raw edges from
//! new-api's `logs` (its `(created_at, type)` index serves these sub-15-minute windows).
//!
//! The range is planned with `tollgate_domain::usage::plan` around the starts of the local
//! units the answer groups by, so no bucket straddles a local day or hour: a figure's `at`
//! always falls in the unit its rows belong to.

use std::collections::BTreeMap;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_domain::usage::{bucket_of, plan, Piece, DAY, HOUR, QUARTER};
use tollgate_newapi_schema::schema::logs;
use tollgate_newapi_schema::{log_type, with_conn, NewapiDbError, NewapiPool};

use super::cache::ResultCache;
use super::model::{Figures, QueryError};
use super::range::Range;

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

/// Where figures come from besides Tollgate's rollups: new-api's logs, and the caches under
/// the token's version, when they are on.
pub struct Sources<'a> {
    /// new-api's logs database.
    pub pool: &'a NewapiPool,
    /// The result cache and the token's version, read before anything else.
    pub cached: Option<(&'a ResultCache, i64)>,
}

/// Every figure of `token` in `range`, optionally for one model, in pieces that never
/// straddle one of `cuts` (ascending unix seconds: the starts of the units grouped by).
pub async fn load(
    tollgate: &mut AsyncPgConnection,
    src: &Sources<'_>,
    token: i64,
    range: &Range,
    cuts: &[i64],
    model: Option<&str>,
) -> Result<FigureSet, QueryError> {
    let pieces = plan(range.start, range.end, cuts);
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
    let Some((cache, version)) = src.cached else {
        return Ok(Arc::new(
            load_buckets(tollgate, token, &spans, model).await?,
        ));
    };
    let key = (
        token,
        version,
        spans.clone(),
        model.unwrap_or("").to_owned(),
    );
    cache
        .buckets
        .try_get_with(key, async {
            load_buckets(tollgate, token, &spans, model)
                .await
                .map(Arc::new)
        })
        .await
        .map_err(|e| QueryError::Shared(e.to_string()))
}

async fn load_edge(
    src: &Sources<'_>,
    token: i64,
    first: i64,
    last: i64,
    model: Option<&str>,
) -> Result<Arc<Vec<Figures>>, QueryError> {
    let Some((cache, version)) = src.cached else {
        return Ok(Arc::new(
            load_raw(src.pool, token, first, last, model).await?,
        ));
    };
    let key = (token, version, first, last, model.unwrap_or("").to_owned());
    cache
        .edges
        .try_get_with(key, async {
            load_raw(src.pool, token, first, last, model)
                .await
                .map(Arc::new)
        })
        .await
        .map_err(|e| QueryError::Shared(e.to_string()))
}

async fn load_buckets(
    conn: &mut AsyncPgConnection,
    token: i64,
    spans: &[(i64, i64, i64)],
    model: Option<&str>,
) -> Result<Vec<Figures>, QueryError> {
    let parts: Vec<String> = spans
        .iter()
        .map(|&(size, first, last)| {
            // Numbers only, formatted by us: safe to inline.
            format!(
                "SELECT bucket AS at, model_name, requests, quota, prompt_tokens, completion_tokens, use_time \
                 FROM {} WHERE token_id = $1 AND bucket BETWEEN {first} AND {last} \
                 AND ($2 = '' OR model_name = $2)",
                table(size)
            )
        })
        .collect();
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
    // One figure per (quarter, model), at a time inside `[first, last]`: the window lies
    // inside one local unit (see `plan`), so every figure lands in its rows' unit.
    let mut sums: BTreeMap<(i64, String), Figures> = BTreeMap::new();
    for r in rows {
        let at = bucket_of(r.0.unwrap_or_default(), QUARTER).max(first);
        let model_name = r.1.unwrap_or_default();
        let f = sums
            .entry((at, model_name.clone()))
            .or_insert_with(|| Figures::zero(at, model_name));
        f.requests += 1;
        f.quota += r.2.unwrap_or_default();
        f.prompt_tokens += r.3.unwrap_or_default();
        f.completion_tokens += r.4.unwrap_or_default();
        f.use_time += r.5.unwrap_or_default();
    }
    Ok(sums.into_values().collect())
}
