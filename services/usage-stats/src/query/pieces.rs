//! Loading a range's figures from Tollgate alone, in one query: whole buckets from the
//! rollups, raw edges from the log index (each consume log's figures, keyed by token and
//! time), both as of the same snapshot, summed by Postgres per unit and model.
//!
//! The range is planned with `tollgate_domain::usage::plan` around the starts of the local
//! units the answer groups by, so no bucket or edge straddles a local day or hour; each row
//! is counted at the start of its unit (the last cut at or before it, found by
//! `width_bucket`, or the range's start in the first unit), and the query returns one
//! figure per unit and model at that instant.

use std::sync::Arc;

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_domain::usage::{plan, Piece, DAY, HOUR};

use super::cache::{ResultCache, Span};
use super::model::{Figures, QueryError};
use super::range::Range;

/// A range's figures (possibly shared with the cache).
#[derive(Debug, Default)]
pub struct FigureSet(Arc<Vec<Figures>>);

impl FigureSet {
    /// Every figure.
    pub fn iter(&self) -> impl Iterator<Item = &Figures> {
        self.0.iter()
    }
}

/// Every figure of `token` in `range`, optionally for one model, in pieces that never
/// straddle one of `cuts` (ascending unix seconds: the starts of the units grouped by);
/// kept in `cached`'s cache under the token's version when given.
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
            load_spans(tollgate, token, range.start, &spans, &cuts, model).await?,
        )));
    };
    let model_key = model.unwrap_or("").to_owned();
    cache
        .figures
        .try_get_with(
            (token, version, spans.clone(), cuts.clone(), model_key),
            async {
                load_spans(tollgate, token, range.start, &spans, &cuts, model)
                    .await
                    .map(Arc::new)
            },
        )
        .await
        .map(FigureSet)
        .map_err(|e| QueryError::Shared(e.to_string()))
}

/// One query over the spans: a rollup level's rows for whole buckets and the log index's rows
/// for a raw edge, each at its unit's start (`cuts`, ascending, inside the range; before the
/// first, `start`), summed per unit and model.
async fn load_spans(
    conn: &mut AsyncPgConnection,
    token: i64,
    start: i64,
    spans: &[Span],
    cuts: &[i64],
    model: Option<&str>,
) -> Result<Vec<Figures>, QueryError> {
    let unit = |column: &str| format!("COALESCE($3[width_bucket({column}, $3)], {start})");
    // Numbers only, formatted by us: safe to inline.
    let parts: Vec<String> = spans
        .iter()
        .map(|&(size, first, last)| match size {
            0 => format!(
                "SELECT {} AS at, model_name, 1::bigint AS requests, quota, prompt_tokens, \
                 completion_tokens, use_time FROM usage_log_index \
                 WHERE token_id = $1 AND created_at BETWEEN {first} AND {last} \
                 AND ($2 = '' OR model_name = $2)",
                unit("created_at")
            ),
            _ => format!(
                "SELECT {} AS at, model_name, requests, quota, prompt_tokens, \
                 completion_tokens, use_time FROM {} \
                 WHERE token_id = $1 AND bucket BETWEEN {first} AND {last} \
                 AND ($2 = '' OR model_name = $2)",
                unit("bucket"),
                match size {
                    DAY => "usage_day",
                    HOUR => "usage_hour",
                    _ => "usage_quarter",
                }
            ),
        })
        .collect();
    let sql = format!(
        "SELECT at, model_name, sum(requests)::bigint AS requests, sum(quota)::bigint AS quota, \
         sum(prompt_tokens)::bigint AS prompt_tokens, \
         sum(completion_tokens)::bigint AS completion_tokens, sum(use_time)::bigint AS use_time \
         FROM ({}) AS pieces GROUP BY at, model_name",
        parts.join(" UNION ALL ")
    );
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(token)
        .bind::<Text, _>(model.unwrap_or(""))
        .bind::<Array<BigInt>, _>(cuts)
        .load(conn)
        .await?)
}
