//! Loading a range's figures from Tollgate alone: whole buckets from the token's quarter-hour
//! image in memory (`image.rs`) or, with caching off, from the rollups; raw edges from the
//! log index (each consume log's figures, keyed by token and time), summed by Postgres per
//! unit and model.
//!
//! The range is planned with `tollgate_domain::usage::plan` around the starts of the local
//! units the answer groups by, so no bucket or edge straddles a local day or hour; each row
//! is counted at the start of its unit (the last cut at or before it, found by
//! `width_bucket`, or the range's start in the first unit), and the query returns one
//! figure per unit and model at that instant.

use std::sync::Arc;

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::PreparedExt;
use tollgate_domain::usage::{plan, Piece};

use super::cache::{ResultCache, Span};
use super::image::Image;
use super::model::{Figures, QueryError};
use super::range::Range;

/// A range's figures (possibly shared with the cache).
#[derive(Debug, Default)]
pub struct FigureSet(Arc<Vec<Figures>>);

impl FigureSet {
    /// These figures.
    pub fn new(figures: Vec<Figures>) -> Self {
        Self(Arc::new(figures))
    }

    /// Every figure.
    pub fn iter(&self) -> impl Iterator<Item = &Figures> {
        self.0.iter()
    }
}

/// Every figure of `token` in `range`, optionally for one model, in pieces that never
/// straddle one of `cuts` (ascending unix seconds: the starts of the units grouped by).
///
/// With `cached` (the caches and the token's version), whole buckets are summed from the
/// token's [`Image`] (loaded once per version) and only the raw edges are read here; without
/// it, one query reads the rollup levels and the edges.
pub async fn load(
    tollgate: &mut AsyncPgConnection,
    cached: Option<(&ResultCache, i64)>,
    token: i64,
    range: &Range,
    cuts: &[i64],
    model: Option<&str>,
) -> Result<FigureSet, QueryError> {
    let spans: Vec<Span> = plan(range.start, range.end, cuts)
        .into_iter()
        .map(|p| match p {
            Piece::Raw { first, last } => (0, first, last),
            Piece::Buckets { size, first, last } => (size, first, last),
        })
        .collect();
    let cuts: Vec<i64> = cuts
        .iter()
        .copied()
        .filter(|&c| c > range.start && c <= range.end)
        .collect();
    if spans.is_empty() {
        return Ok(FigureSet::default());
    }
    let Some((cache, version)) = cached else {
        return Ok(FigureSet(Arc::new(
            load_spans(
                tollgate,
                SPANS_SQL,
                token,
                range.start,
                &spans,
                &cuts,
                model,
            )
            .await?,
        )));
    };
    let (raw, whole): (Vec<Span>, Vec<Span>) = spans.into_iter().partition(|s| s.0 == 0);
    let mut figures = if whole.is_empty() {
        Vec::new()
    } else {
        let image = cache
            .images
            .try_get_with((token, version), async {
                Image::load(tollgate, token).await.map(Arc::new)
            })
            .await
            .map_err(|e| QueryError::Shared(e.to_string()))?;
        // Whole buckets of any size are runs of quarters: `[first, last + size)`.
        let runs: Vec<(i64, i64)> = whole
            .iter()
            .map(|&(size, first, last)| (first, last + size))
            .collect();
        image.figures(&runs, model, range.start, &cuts)
    };
    if !raw.is_empty() {
        figures
            .extend(load_spans(tollgate, EDGES_SQL, token, range.start, &raw, &cuts, model).await?);
    }
    Ok(FigureSet(Arc::new(figures)))
}

/// One query over the spans: a rollup level's rows for whole buckets and the log index's rows
/// for a raw edge, each at its unit's start (`cuts`, ascending, inside the range; before the
/// first, `start`), summed per unit and model.
///
/// Its text is fixed (the spans go in as arrays, each joined to the one table its size
/// names through a branch whose other arms a one-time filter skips), so each connection
/// parses it once and Postgres may keep its plan.
///
/// `sql` is [`SPANS_SQL`] or, for raw edges alone, [`EDGES_SQL`] (same parameters).
async fn load_spans(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    token: i64,
    start: i64,
    spans: &[Span],
    cuts: &[i64],
    model: Option<&str>,
) -> Result<Vec<Figures>, QueryError> {
    let sizes: Vec<i64> = spans.iter().map(|s| s.0).collect();
    let firsts: Vec<i64> = spans.iter().map(|s| s.1).collect();
    let lasts: Vec<i64> = spans.iter().map(|s| s.2).collect();
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(token)
        .bind::<Text, _>(model.unwrap_or(""))
        .bind::<Array<BigInt>, _>(cuts)
        .bind::<BigInt, _>(start)
        .bind::<Array<BigInt>, _>(sizes)
        .bind::<Array<BigInt>, _>(firsts)
        .bind::<Array<BigInt>, _>(lasts)
        .prepared()
        .load(conn)
        .await?)
}

/// The raw edges alone (spans of size 0), summed per unit and model like [`SPANS_SQL`], with
/// the same parameters: a smaller statement, cheap to plan, for when whole buckets come from
/// the image. A lateral subquery per edge, fenced with `OFFSET 0` so the planner cannot
/// flatten it into a join: each edge stays one range scan of the key. (Flattened, with
/// statistics saying a heavy token has a million rows, it scanned them all, in parallel,
/// for two 15-minute edges.)
const EDGES_SQL: &str = "\
SELECT COALESCE($3[width_bucket(i.created_at, $3)], $4) AS at, i.model_name, \
  count(*)::bigint AS requests, sum(i.quota)::bigint AS quota, \
  sum(i.prompt_tokens)::bigint AS prompt_tokens, \
  sum(i.completion_tokens)::bigint AS completion_tokens, sum(i.use_time)::bigint AS use_time \
FROM unnest($5::bigint[], $6::bigint[], $7::bigint[]) AS s(size, first, last) \
CROSS JOIN LATERAL ( \
  SELECT created_at, model_name, quota, prompt_tokens, completion_tokens, use_time \
  FROM usage_log_index WHERE s.size = 0 AND token_id = $1 \
    AND created_at BETWEEN s.first AND s.last \
    AND ($2 = '' OR model_name = $2) OFFSET 0 \
) AS i \
GROUP BY 1, 2";

/// `$1` token, `$2` model or '', `$3` cuts, `$4` the range's start, `$5..$7` the spans'
/// sizes, first and last seconds. The sizes are `tollgate_domain::usage::{DAY, HOUR,
/// QUARTER}` and 0 (raw); `spans_sql_names_every_size` checks them.
const SPANS_SQL: &str = "\
SELECT COALESCE($3[width_bucket(r.at, $3)], $4) AS at, r.model_name, \
  sum(r.requests)::bigint AS requests, sum(r.quota)::bigint AS quota, \
  sum(r.prompt_tokens)::bigint AS prompt_tokens, \
  sum(r.completion_tokens)::bigint AS completion_tokens, sum(r.use_time)::bigint AS use_time \
FROM unnest($5::bigint[], $6::bigint[], $7::bigint[]) AS s(size, first, last) \
CROSS JOIN LATERAL ( \
  SELECT bucket AS at, model_name, requests, quota, prompt_tokens, completion_tokens, use_time \
  FROM usage_day WHERE s.size = 86400 AND token_id = $1 AND bucket BETWEEN s.first AND s.last \
    AND ($2 = '' OR model_name = $2) \
  UNION ALL \
  SELECT bucket, model_name, requests, quota, prompt_tokens, completion_tokens, use_time \
  FROM usage_hour WHERE s.size = 3600 AND token_id = $1 AND bucket BETWEEN s.first AND s.last \
    AND ($2 = '' OR model_name = $2) \
  UNION ALL \
  SELECT bucket, model_name, requests, quota, prompt_tokens, completion_tokens, use_time \
  FROM usage_quarter WHERE s.size = 900 AND token_id = $1 AND bucket BETWEEN s.first AND s.last \
    AND ($2 = '' OR model_name = $2) \
  UNION ALL \
  SELECT created_at, model_name, 1::bigint, quota, prompt_tokens, completion_tokens, use_time \
  FROM usage_log_index WHERE s.size = 0 AND token_id = $1 \
    AND created_at BETWEEN s.first AND s.last AND ($2 = '' OR model_name = $2) \
) AS r \
GROUP BY 1, 2";

#[cfg(test)]
mod tests {
    use super::SPANS_SQL;
    use tollgate_domain::usage::{DAY, HOUR, QUARTER};

    #[test]
    fn spans_sql_names_every_size() {
        for size in [DAY, HOUR, QUARTER, 0] {
            assert!(
                SPANS_SQL.contains(&format!("s.size = {size} AND")),
                "no branch for {size}"
            );
        }
    }
}
