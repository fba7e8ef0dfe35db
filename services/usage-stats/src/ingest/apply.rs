//! One ingest pass against Tollgate's database (see the module docs for the protocol).

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tollgate_domain::usage::{bucket_of, DAY, HOUR, QUARTER};
use tollgate_newapi_schema::{log_type, NewapiPool};

use super::source::{read_after, read_ids, LogRow};
use super::{IngestError, SOURCE};

/// Gaps re-read per pass at most (the oldest first).
const MAX_GAPS_PER_PASS: i64 = 10_000;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Logs read above the highest id seen before.
    pub read: usize,
    /// Gap ids that appeared and were ingested.
    pub gaps_filled: usize,
    /// New gap ids recorded.
    pub gaps_opened: usize,
    /// Gap ids given up after the grace period.
    pub gaps_expired: usize,
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
    grace: Duration,
) -> Result<Pass, IngestError> {
    conn.transaction(async |conn| {
        diesel::sql_query(
            "INSERT INTO usage_ingest_state (source) VALUES ($1) ON CONFLICT (source) DO NOTHING",
        )
        .bind::<Text, _>(SOURCE)
        .execute(conn)
        .await?;
        let state: State = diesel::sql_query(
            "SELECT max_seen_id FROM usage_ingest_state WHERE source = $1 FOR UPDATE",
        )
        .bind::<Text, _>(SOURCE)
        .get_result(conn)
        .await?;
        let gaps: Vec<i64> = diesel::sql_query(
            "SELECT log_id FROM usage_ingest_gaps WHERE source = $1 ORDER BY log_id LIMIT $2",
        )
        .bind::<Text, _>(SOURCE)
        .bind::<BigInt, _>(MAX_GAPS_PER_PASS)
        .load::<GapId>(conn)
        .await?
        .into_iter()
        .map(|g| g.log_id)
        .collect();

        let filled = read_ids(logs, &gaps).await?;
        let fresh = read_after(logs, state.max_seen_id, batch).await?;

        let mut pass = Pass {
            read: fresh.len(),
            gaps_filled: filled.len(),
            max_seen_id: fresh.last().map_or(state.max_seen_id, |r| r.id),
            ..Pass::default()
        };
        let opened = holes(state.max_seen_id, &fresh);
        pass.gaps_opened = opened.len();

        let filled_ids: Vec<i64> = filled.iter().map(|r| r.id).collect();
        diesel::sql_query("DELETE FROM usage_ingest_gaps WHERE source = $1 AND log_id = ANY($2)")
            .bind::<Text, _>(SOURCE)
            .bind::<Array<BigInt>, _>(&filled_ids)
            .execute(conn)
            .await?;
        diesel::sql_query(
            "INSERT INTO usage_ingest_gaps (source, log_id) SELECT $1, unnest($2::bigint[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(SOURCE)
        .bind::<Array<BigInt>, _>(&opened)
        .execute(conn)
        .await?;
        pass.gaps_expired = diesel::sql_query(
            "DELETE FROM usage_ingest_gaps WHERE source = $1 \
             AND first_seen < now() - make_interval(secs => $2)",
        )
        .bind::<Text, _>(SOURCE)
        .bind::<Double, _>(grace.as_secs_f64())
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
        .execute(conn)
        .await?;
        Ok::<_, IngestError>(pass)
    })
    .await
}

/// Ids in `(after, last read]` that the read did not return.
fn holes(after: i64, fresh: &[LogRow]) -> Vec<i64> {
    let mut holes = Vec::new();
    let mut expected = after + 1;
    for r in fresh {
        holes.extend(expected..r.id);
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
        let mut sums: HashMap<(i64, i64, &str), Sums> = HashMap::new();
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
        .execute(conn)
        .await?;
    }
    let tokens: Vec<i64> = rows.iter().map(|r| r.token_id).collect();
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let created: Vec<i64> = rows.iter().map(|r| r.created_at).collect();
    let models: Vec<&str> = rows.iter().map(|r| r.model_name.as_str()).collect();
    diesel::sql_query(
        "INSERT INTO usage_log_index (token_id, log_id, created_at, model_name) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(&tokens)
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<BigInt>, _>(&created)
    .bind::<Array<Text>, _>(&models)
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
            created_at: 0,
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
        assert_eq!(holes(10, &[log(11), log(12)]), Vec::<i64>::new());
        assert_eq!(holes(10, &[log(13), log(15)]), vec![11, 12, 14]);
        assert_eq!(holes(0, &[]), Vec::<i64>::new());
    }
}
