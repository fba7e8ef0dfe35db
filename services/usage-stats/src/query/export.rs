//! CSV export: every consume log of a range (one key's, or all of a user's keys'), newest
//! first, streamed in chunks so memory stays flat however many rows there are.
//!
//! Rows come from Tollgate's log index alone (it keeps each consume log's figures): one
//! keyset-paged cursor per token, reading its `(token_id, created_at, log_id)` primary key
//! backwards, merged newest first. With new-api's logs in ClickHouse, one query streams them
//! in that order instead.

use std::collections::VecDeque;
use std::fmt::Write as _;

use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use futures_util::{Stream, StreamExt, TryStreamExt};
use tollgate_db::{PgPool, PreparedExt};
use tollgate_domain::zone::Zone;

use super::cache::KeyLabel;
use super::model::QueryError;
use super::range::Range;
use super::recent::load_in_key_order;
use crate::clickhouse::{ChLogs, Selection};

/// Rows per chunk (one index read per token that needs more).
const CHUNK: i64 = 1_000;

/// The header line of a key's export.
pub const KEY_HEADER: &str =
    "created_at,model_name,prompt_tokens,completion_tokens,quota,cost_usd,use_time_s";

/// What an export reads and how it writes rows.
pub struct Export {
    /// Tollgate's pool (the log index).
    pub pool: PgPool,
    /// new-api's logs in ClickHouse, read instead of the index when set.
    pub clickhouse: Option<ChLogs>,
    /// The tokens exported.
    pub tokens: Vec<i64>,
    /// Key names for a user's export (adds a `key_name` column); empty for a key's.
    pub labels: Vec<KeyLabel>,
    /// The range and the zone of `created_at`.
    pub range: Range,
    /// Only this model, if any.
    pub model: Option<String>,
    /// Quota units per USD.
    pub quota_per_unit: i64,
}

/// One token's place in the index: the rows read ahead, and where to read on.
struct Cursor {
    token: i64,
    ahead: VecDeque<IndexRow>,
    after: Option<(i64, i64)>,
    done: bool,
}

/// One consume log as the log index keeps it.
#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = BigInt)]
    token_id: i64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    log_id: i64,
    #[diesel(sql_type = Text)]
    model_name: String,
    #[diesel(sql_type = BigInt)]
    quota: i64,
    #[diesel(sql_type = BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    completion_tokens: i64,
    #[diesel(sql_type = BigInt)]
    use_time: i64,
}

impl Export {
    /// The header line, then the rows a chunk at a time.
    pub fn stream(self) -> impl Stream<Item = Result<Bytes, QueryError>> + 'static {
        let header = if self.labels.is_empty() {
            format!("{KEY_HEADER}\r\n")
        } else {
            format!("{KEY_HEADER},key_name\r\n")
        };
        let first = futures_util::stream::once(async move { Ok(Bytes::from(header)) });
        let rows = match self.clickhouse.clone() {
            Some(ch) => self.clickhouse_rows(ch).left_stream(),
            None => self.index_rows().right_stream(),
        };
        first.chain(rows)
    }

    /// ClickHouse's rows, newest first as it sorts them, a chunk at a time.
    fn clickhouse_rows(self, ch: ChLogs) -> impl Stream<Item = Result<Bytes, QueryError>> {
        let rows = futures_util::stream::once(async move {
            let sel = Selection {
                tokens: &self.tokens,
                range: &self.range,
                model: self.model.as_deref(),
            };
            let rows = ch.every_log(&sel).await?;
            Ok::<_, QueryError>((self, rows))
        });
        rows.map_ok(|(export, rows)| {
            rows.map_err(QueryError::from)
                .try_chunks(CHUNK as usize)
                .map_err(|e| e.1)
                .map_ok(move |chunk| {
                    let mut out = String::new();
                    for r in chunk {
                        let row = IndexRow {
                            token_id: r.token_id,
                            created_at: r.created_at,
                            log_id: r.id,
                            model_name: r.model_name,
                            quota: r.quota,
                            prompt_tokens: r.prompt_tokens,
                            completion_tokens: r.completion_tokens,
                            use_time: r.use_time,
                        };
                        export.line(&row, &mut out);
                    }
                    Bytes::from(out)
                })
        })
        .try_flatten()
    }

    /// The log index's rows, merged newest first across the tokens, a chunk at a time.
    fn index_rows(self) -> impl Stream<Item = Result<Bytes, QueryError>> {
        let cursors: Vec<Cursor> = self
            .tokens
            .iter()
            .map(|&token| Cursor {
                token,
                ahead: VecDeque::new(),
                after: None,
                done: false,
            })
            .collect();
        futures_util::stream::try_unfold((self, cursors), |(export, mut cursors)| async move {
            let chunk = export.next_chunk(&mut cursors).await?;
            if chunk.is_empty() {
                return Ok(None);
            }
            Ok(Some((Bytes::from(chunk), (export, cursors))))
        })
    }

    /// Up to `CHUNK` lines, newest first across the cursors (empty when all are done).
    async fn next_chunk(&self, cursors: &mut [Cursor]) -> Result<String, QueryError> {
        let mut out = String::new();
        for _ in 0..CHUNK {
            for c in cursors.iter_mut().filter(|c| c.ahead.is_empty() && !c.done) {
                self.refill(c).await?;
            }
            let newest = cursors
                .iter_mut()
                .filter(|c| !c.ahead.is_empty())
                .max_by_key(|c| c.ahead.front().map(|r| (r.created_at, r.log_id)));
            match newest.and_then(|c| c.ahead.pop_front()) {
                Some(row) => self.line(&row, &mut out),
                None => break,
            }
        }
        Ok(out)
    }

    /// Read the next `CHUNK` rows of `c`'s token below its position.
    async fn refill(&self, c: &mut Cursor) -> Result<(), QueryError> {
        let mut conn = self.pool.get().await?;
        let (at, id) = c.after.unwrap_or((i64::MAX, i64::MAX));
        let query = diesel::sql_query(
            "SELECT token_id, created_at, log_id, model_name, quota, prompt_tokens, \
                    completion_tokens, use_time FROM usage_log_index \
             WHERE token_id = $1 AND created_at BETWEEN $2 AND $3 \
               AND ($4 = '' OR model_name = $4) AND (created_at, log_id) < ($5, $6) \
             ORDER BY created_at DESC, log_id DESC LIMIT $7",
        )
        .bind::<BigInt, _>(c.token)
        .bind::<BigInt, _>(self.range.start)
        .bind::<BigInt, _>(self.range.end)
        .bind::<Text, _>(self.model.as_deref().unwrap_or(""))
        .bind::<BigInt, _>(at)
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(CHUNK)
        .prepared();
        let rows: Vec<IndexRow> = load_in_key_order(&mut conn, query).await?;
        c.done = (rows.len() as i64) < CHUNK;
        c.after = rows.last().map(|r| (r.created_at, r.log_id)).or(c.after);
        c.ahead.extend(rows);
        Ok(())
    }

    /// One CSV line (CRLF-terminated) for `row`.
    fn line(&self, row: &IndexRow, out: &mut String) {
        out.push_str(&local_time(&self.range.zone, row.created_at));
        out.push(',');
        out.push_str(&field(&row.model_name));
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            ",{},{},{},{},{}",
            row.prompt_tokens,
            row.completion_tokens,
            row.quota,
            usd(row.quota, self.quota_per_unit),
            row.use_time
        );
        if !self.labels.is_empty() {
            let name = self
                .labels
                .iter()
                .find(|k| k.token == Some(row.token_id))
                .map_or("", |k| k.name.as_str());
            out.push(',');
            out.push_str(&field(name));
        }
        out.push_str("\r\n");
    }
}

/// ISO-8601 with the zone's offset at that instant, e.g. `2026-11-01T01:30:00-04:00`.
fn local_time(zone: &Zone, t: i64) -> String {
    zone.local(t).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `quota` in USD with 6 decimals, exact to the micro-dollar (rounded half up).
fn usd(quota: i64, per_unit: i64) -> String {
    let micros =
        (i128::from(quota) * 1_000_000 * 2 + i128::from(per_unit)) / (2 * i128::from(per_unit));
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(field("gpt-4o"), "gpt-4o");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn dollars_are_exact_to_the_micro() {
        assert_eq!(usd(0, 500_000), "0.000000");
        assert_eq!(usd(1, 500_000), "0.000002");
        assert_eq!(usd(1_234_567, 500_000), "2.469134");
        assert_eq!(usd(1, 3), "0.333333");
        assert_eq!(usd(2, 3), "0.666667");
    }

    #[test]
    fn local_times_carry_the_offset() {
        let ny = Zone::parse("America/New_York").unwrap();
        // 2026-11-01T05:30Z is 01:30 EDT; an hour later it is 01:30 EST.
        assert_eq!(local_time(&ny, 1_793_511_000), "2026-11-01T01:30:00-04:00");
        assert_eq!(local_time(&ny, 1_793_514_600), "2026-11-01T01:30:00-05:00");
        assert_eq!(local_time(&Zone::UTC, 0), "1970-01-01T00:00:00+00:00");
    }
}
