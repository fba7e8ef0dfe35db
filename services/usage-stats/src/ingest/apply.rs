//! One ingest pass against Tollgate's database (see the module docs for the protocol).

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tollgate_db::PreparedExt;
use tollgate_domain::usage::{bucket_of, DAY, HOUR, QUARTER};
use tollgate_newapi_schema::{log_type, NewapiPool};

use super::source::{read_after, read_ids, read_tip, LogRow};
use super::{GapPolicy, IngestError, SOURCE};

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Logs read above the highest id seen before.
    pub read: usize,
    /// Gap ids that appeared and were ingested.
    pub gaps_filled: usize,
    /// New gap ids recorded.
    pub gaps_opened: usize,
    /// Holes in this read that could no longer fill (their neighbour is older than the grace
    /// by new-api's newest log), so never waited for.
    pub gaps_skipped: usize,
    /// Gap ids given up: past the grace, or beyond the cap of waiting gaps.
    pub gaps_expired: usize,
    /// Gap ids still waited for after the pass.
    pub gaps_waiting: usize,
    /// Consume logs added to the rollups.
    pub consumed: usize,
    /// The highest id seen after the pass.
    pub max_seen_id: i64,
}

#[derive(QueryableByName)]
struct State {
    #[diesel(sql_type = BigInt)]
    max_seen_id: i64,
}

#[derive(QueryableByName)]
struct GapId {
    #[diesel(sql_type = BigInt)]
    log_id: i64,
}

/// Run one pass: lock the state, read from new-api, apply, commit.
pub async fn apply_pass(
    conn: &mut AsyncPgConnection,
    logs: &NewapiPool,
    batch: i64,
    gaps: GapPolicy,
) -> Result<Pass, IngestError> {
    conn.transaction(async |conn| {
        diesel::sql_query(
            "INSERT INTO usage_ingest_state (source) VALUES ($1) ON CONFLICT (source) DO NOTHING",
        )
        .bind::<Text, _>(SOURCE)
        .prepared()
        .execute(conn)
        .await?;
        let state: State = diesel::sql_query(
            "SELECT max_seen_id FROM usage_ingest_state WHERE source = $1 FOR UPDATE",
        )
        .bind::<Text, _>(SOURCE)
        .prepared()
        .get_result(conn)
        .await?;
        let grace = i64::try_from(gaps.grace.as_secs()).unwrap_or(i64::MAX);
        // Gaps are judged by new-api's own clock: its newest log's created_at.
        let tip_at = read_tip(logs).await?.map(|(_, at)| at);
        let mut pass = Pass {
            gaps_expired: expire_gaps(conn, tip_at, gaps).await?,
            ..Pass::default()
        };
        // Every gap still waited for is re-read on every pass, newest first: a late commit
        // shows within one pass however many holes older ones left.
        let waiting: Vec<i64> = diesel::sql_query(
            "SELECT log_id FROM usage_ingest_gaps WHERE source = $1 ORDER BY log_id DESC",
        )
        .bind::<Text, _>(SOURCE)
        .prepared()
        .load::<GapId>(conn)
        .await?
        .into_iter()
        .map(|g| g.log_id)
        .collect();

        let filled = read_ids(logs, &waiting).await?;
        let fresh = read_after(logs, state.max_seen_id, batch).await?;
        pass.read = fresh.len();
        pass.gaps_filled = filled.len();
        pass.max_seen_id = fresh.last().map_or(state.max_seen_id, |r| r.id);
        let (opened, skipped): (Vec<Hole>, Vec<Hole>) = holes(state.max_seen_id, &fresh)
            .into_iter()
            .partition(|&(_, neighbour_at)| {
                tip_at.is_none_or(|tip| tip.saturating_sub(neighbour_at) <= grace)
            });
        pass.gaps_opened = opened.len();
        pass.gaps_skipped = skipped.len();
        pass.gaps_waiting = waiting.len() - filled.len() + opened.len();

        let filled_ids: Vec<i64> = filled.iter().map(|r| r.id).collect();
        diesel::sql_query("DELETE FROM usage_ingest_gaps WHERE source = $1 AND log_id = ANY($2)")
            .bind::<Text, _>(SOURCE)
            .bind::<Array<BigInt>, _>(&filled_ids)
            .prepared()
            .execute(conn)
            .await?;
        let (ids, neighbours): (Vec<i64>, Vec<i64>) = opened.into_iter().unzip();
        diesel::sql_query(
            "INSERT INTO usage_ingest_gaps (source, log_id, neighbour_at) \
             SELECT $1, * FROM unnest($2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(SOURCE)
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<BigInt>, _>(&neighbours)
        .prepared()
        .execute(conn)
        .await?;

        let consumed: Vec<&LogRow> = filled
            .iter()
            .chain(fresh.iter())
            .filter(|r| r.kind == log_type::CONSUME)
            .collect();
        pass.consumed = consumed.len();
        add_to_rollups(conn, &consumed).await?;

        diesel::sql_query(
            "UPDATE usage_ingest_state SET max_seen_id = $2, updated_at = now() WHERE source = $1",
        )
        .bind::<Text, _>(SOURCE)
        .bind::<BigInt, _>(pass.max_seen_id)
        .prepared()
        .execute(conn)
        .await?;
        Ok::<_, IngestError>(pass)
    })
    .await
}

/// Forget the gaps that can no longer fill: recorded longer ago than the grace (our clock),
/// or whose upper neighbour is older than the grace by new-api's newest log (its clock);
/// then the lowest ids beyond the cap. Returns how many were dropped.
async fn expire_gaps(
    conn: &mut AsyncPgConnection,
    tip_at: Option<i64>,
    gaps: GapPolicy,
) -> Result<usize, diesel::result::Error> {
    let grace = i64::try_from(gaps.grace.as_secs()).unwrap_or(i64::MAX);
    let aged = diesel::sql_query(
        "DELETE FROM usage_ingest_gaps WHERE source = $1 \
         AND (first_seen < now() - make_interval(secs => $2) OR neighbour_at < $3)",
    )
    .bind::<Text, _>(SOURCE)
    .bind::<Double, _>(gaps.grace.as_secs_f64())
    .bind::<BigInt, _>(tip_at.map_or(i64::MIN, |t| t.saturating_sub(grace)))
    .prepared()
    .execute(conn)
    .await?;
    let over_cap = diesel::sql_query(
        "DELETE FROM usage_ingest_gaps WHERE source = $1 AND log_id IN \
         (SELECT log_id FROM usage_ingest_gaps WHERE source = $1 ORDER BY log_id DESC OFFSET $2)",
    )
    .bind::<Text, _>(SOURCE)
    .bind::<BigInt, _>(i64::try_from(gaps.max_waiting).unwrap_or(i64::MAX))
    .prepared()
    .execute(conn)
    .await?;
    if over_cap > 0 {
        tracing::warn!(
            dropped = over_cap,
            cap = gaps.max_waiting,
            "more missing log ids than INGEST_MAX_GAPS: the oldest are given up"
        );
    }
    Ok(aged + over_cap)
}

/// A missing id and the `created_at` of the log just above it.
type Hole = (i64, i64);

/// Ids in `(after, last read]` that the read did not return, each with the `created_at` of
/// the log just above it.
fn holes(after: i64, fresh: &[LogRow]) -> Vec<Hole> {
    let mut holes = Vec::new();
    let mut expected = after + 1;
    for r in fresh {
        holes.extend((expected..r.id).map(|id| (id, r.created_at)));
        expected = r.id + 1;
    }
    holes
}

#[derive(Default, Clone, Copy)]
struct Sums {
    requests: i64,
    quota: i64,
    prompt: i64,
    completion: i64,
    use_time: i64,
}

/// One rollup upsert's rows, column by column (bound as arrays and `unnest`ed).
#[derive(Default)]
struct Columns {
    token: Vec<i64>,
    bucket: Vec<i64>,
    model: Vec<String>,
    requests: Vec<i64>,
    quota: Vec<i64>,
    prompt: Vec<i64>,
    completion: Vec<i64>,
    use_time: Vec<i64>,
}

impl Columns {
    fn push(&mut self, token: i64, bucket: i64, model: &str, s: Sums) {
        self.token.push(token);
        self.bucket.push(bucket);
        self.model.push(model.to_owned());
        self.requests.push(s.requests);
        self.quota.push(s.quota);
        self.prompt.push(s.prompt);
        self.completion.push(s.completion);
        self.use_time.push(s.use_time);
    }
}

async fn add_to_rollups(conn: &mut AsyncPgConnection, rows: &[&LogRow]) -> Result<(), IngestError> {
    if rows.is_empty() {
        return Ok(());
    }
    for (table, size) in [
        ("usage_quarter", QUARTER),
        ("usage_hour", HOUR),
        ("usage_day", DAY),
    ] {
        // Ordered by the primary key: the upsert then walks the index in order, touching
        // each leaf page once per pass instead of at random.
        let mut sums: BTreeMap<(i64, i64, &str), Sums> = BTreeMap::new();
        for r in rows {
            let s = sums
                .entry((
                    r.token_id,
                    bucket_of(r.created_at, size),
                    r.model_name.as_str(),
                ))
                .or_default();
            s.requests += 1;
            s.quota += r.quota;
            s.prompt += r.prompt_tokens;
            s.completion += r.completion_tokens;
            s.use_time += r.use_time;
        }
        let mut cols = Columns::default();
        for ((token, bucket, model), sums) in sums {
            cols.push(token, bucket, model, sums);
        }
        // `table` is one of three constants above, never input.
        diesel::sql_query(format!(
            "INSERT INTO {table} AS t (token_id, bucket, model_name, requests, quota, prompt_tokens, completion_tokens, use_time) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) \
             ON CONFLICT (token_id, bucket, model_name) DO UPDATE SET \
               requests = t.requests + EXCLUDED.requests, quota = t.quota + EXCLUDED.quota, \
               prompt_tokens = t.prompt_tokens + EXCLUDED.prompt_tokens, \
               completion_tokens = t.completion_tokens + EXCLUDED.completion_tokens, \
               use_time = t.use_time + EXCLUDED.use_time"
        ))
        .bind::<Array<BigInt>, _>(&cols.token)
        .bind::<Array<BigInt>, _>(&cols.bucket)
        .bind::<Array<Text>, _>(&cols.model)
        .bind::<Array<BigInt>, _>(&cols.requests)
        .bind::<Array<BigInt>, _>(&cols.quota)
        .bind::<Array<BigInt>, _>(&cols.prompt)
        .bind::<Array<BigInt>, _>(&cols.completion)
        .bind::<Array<BigInt>, _>(&cols.use_time)
        .prepared()
        .execute(conn)
        .await?;
    }
    // In primary-key order too (see above).
    let mut rows = rows.to_vec();
    rows.sort_unstable_by_key(|r| (r.token_id, r.created_at, r.id));
    let col = |f: fn(&LogRow) -> i64| rows.iter().map(|r| f(r)).collect::<Vec<i64>>();
    let tokens = col(|r| r.token_id);
    let models: Vec<&str> = rows.iter().map(|r| r.model_name.as_str()).collect();
    diesel::sql_query(
        "INSERT INTO usage_log_index (token_id, created_at, log_id, model_name, quota, \
                prompt_tokens, completion_tokens, use_time) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], \
                $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(&tokens)
    .bind::<Array<BigInt>, _>(&col(|r| r.created_at))
    .bind::<Array<BigInt>, _>(&col(|r| r.id))
    .bind::<Array<Text>, _>(&models)
    .bind::<Array<BigInt>, _>(&col(|r| r.quota))
    .bind::<Array<BigInt>, _>(&col(|r| r.prompt_tokens))
    .bind::<Array<BigInt>, _>(&col(|r| r.completion_tokens))
    .bind::<Array<BigInt>, _>(&col(|r| r.use_time))
    .prepared()
    .execute(conn)
    .await?;
    // Every touched token gets a new version in this same transaction: answers cached under
    // the old one are never served again (see query::cache).
    diesel::sql_query(
        "INSERT INTO usage_token_version AS v (token_id, version) \
         SELECT DISTINCT t, 1 FROM unnest($1::bigint[]) AS t \
         ON CONFLICT (token_id) DO UPDATE SET version = v.version + 1",
    )
    .bind::<Array<BigInt>, _>(&tokens)
    .prepared()
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(id: i64) -> LogRow {
        LogRow {
            id,
            token_id: 1,
            created_at: id * 10,
            kind: 2,
            model_name: String::new(),
            quota: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            use_time: 0,
        }
    }

    #[test]
    fn holes_between_read_ids_become_gaps() {
        assert_eq!(holes(10, &[log(11), log(12)]), vec![]);
        assert_eq!(
            holes(10, &[log(13), log(15)]),
            vec![(11, 130), (12, 130), (14, 150)]
        );
        assert_eq!(holes(0, &[]), vec![]);
    }
}
