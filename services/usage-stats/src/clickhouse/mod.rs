//! new-api's `logs` in ClickHouse (new-api's `LOG_SQL_DSN=clickhouse://…`): the figures,
//! pages and exports of the SQL path, computed by ClickHouse at each request.
//!
//! There is nothing to ingest: ids are always 0 there, so the id-based ingest of the SQL
//! path has nothing to follow, and ClickHouse sums a token's rows per unit and model faster
//! than Tollgate could keep a copy fresh. Every answer is read at the moment it is asked
//! (fresh at once, late rows with an older `created_at` included, each row once). Only
//! consume logs (`type = 2`) count, as on the SQL path. `request_id` breaks ties in the
//! newest-first order; it is not assumed to be unique.

mod at;
mod client;
pub mod dsn;

use std::collections::HashMap;

use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tollgate_domain::zone::LocalUnit;

pub use at::CountedAt;
pub use client::{literal, ChError, ClickHouse};

use crate::query::model::{Figures, LogView};
use crate::query::pieces::FigureSet;
use crate::query::range::{Page, Range};

/// The rows of one request: which tokens, when, which model.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// new-api token ids (ascending, distinct).
    pub tokens: &'a [i64],
    /// The range.
    pub range: &'a Range,
    /// Only this model, if any.
    pub model: Option<&'a str>,
}

impl Selection<'_> {
    /// The `WHERE` clause (integers and one escaped literal only).
    fn filter(&self) -> String {
        let ids: Vec<String> = self.tokens.iter().map(i64::to_string).collect();
        let mut sql = format!(
            "type = 2 AND token_id IN ({}) AND created_at >= {} AND created_at <= {}",
            ids.join(", "),
            self.range.start,
            self.range.end
        );
        if let Some(model) = self.model {
            sql.push_str(&format!(" AND model_name = {}", literal(model)));
        }
        sql
    }
}

#[derive(Deserialize)]
struct FigureRow {
    token_id: i64,
    model_name: String,
    at: i64,
    requests: i64,
    quota: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    use_time: i64,
}

/// One consume log as ClickHouse keeps it (the columns answers show).
#[derive(Debug, Deserialize)]
pub struct LogRow {
    /// Always 0 in ClickHouse.
    pub id: i64,
    /// The token.
    pub token_id: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Model.
    pub model_name: String,
    /// Quota.
    pub quota: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Seconds.
    pub use_time: i64,
    /// 1 for a streamed answer.
    pub is_stream: u8,
    /// new-api's note.
    pub content: String,
}

const LOG_COLUMNS: &str = "id, token_id, created_at, model_name, quota, prompt_tokens, \
     completion_tokens, use_time, is_stream, content";
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, request_id DESC";
/// The first window a page of the newest logs is looked for in: an hour.
const NEWEST_WINDOW: i64 = 3_600;

/// Queries over new-api's `logs` table in ClickHouse.
#[derive(Clone, Debug)]
pub struct ChLogs {
    client: ClickHouse,
}

impl ChLogs {
    /// Over `client`'s database.
    pub fn new(client: ClickHouse) -> Self {
        Self { client }
    }

    /// The client (readiness, start-up checks).
    pub fn client(&self) -> &ClickHouse {
        &self.client
    }

    /// Each token's figures (in `sel.tokens` order), summed by ClickHouse per model and
    /// unit, each counted at its unit's start (`units`; none: at the range's start).
    pub async fn figures(
        &self,
        sel: &Selection<'_>,
        units: &[LocalUnit],
        step: i64,
    ) -> Result<Vec<FigureSet>, ChError> {
        if sel.tokens.is_empty() {
            return Ok(Vec::new());
        }
        let cuts: Vec<i64> = units.iter().skip(1).map(|u| u.start).collect();
        let at = CountedAt::new(sel.range.start, &cuts, step.max(1)).sql();
        let rows: Vec<FigureRow> = self
            .client
            .rows(&format!(
                "SELECT token_id, model_name, {at} AS at, count() AS requests, \
                 sum(quota) AS quota, sum(prompt_tokens) AS prompt_tokens, \
                 sum(completion_tokens) AS completion_tokens, sum(use_time) AS use_time \
                 FROM logs WHERE {} GROUP BY token_id, model_name, at",
                sel.filter()
            ))
            .await?;
        let mut per_token: HashMap<i64, Vec<Figures>> = HashMap::new();
        for r in rows {
            per_token.entry(r.token_id).or_default().push(Figures {
                at: r.at,
                model_name: r.model_name,
                requests: r.requests,
                quota: r.quota,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                use_time: r.use_time,
            });
        }
        Ok(sel
            .tokens
            .iter()
            .map(|t| FigureSet::new(per_token.remove(t).unwrap_or_default()))
            .collect())
    }

    /// One page of the logs, newest first.
    pub async fn page(
        &self,
        sel: &Selection<'_>,
        page: Page,
        usd: impl Fn(i64) -> f64,
    ) -> Result<Vec<LogView>, ChError> {
        if sel.tokens.is_empty() {
            return Ok(Vec::new());
        }
        // The table is sorted by time, not by token: a query over the whole range reads all
        // of it. The newest rows are read from the range's last hour first, then a window
        // sixteen times longer, …, then the whole range: a window that holds the full page
        // holds the newest rows of the range, since everything outside it is older.
        let mut window = NEWEST_WINDOW;
        loop {
            let from = sel
                .range
                .end
                .saturating_sub(window - 1)
                .max(sel.range.start);
            let whole = from == sel.range.start;
            let rows: Vec<LogRow> = self
                .client
                .rows(&format!(
                    "SELECT {LOG_COLUMNS} FROM logs WHERE {} AND created_at >= {from} \
                     {NEWEST_FIRST} LIMIT {} OFFSET {}",
                    sel.filter(),
                    page.size,
                    page.offset()
                ))
                .await?;
            if whole || rows.len() as i64 == page.size {
                return Ok(rows.into_iter().map(|r| view(r, &usd)).collect());
            }
            window = window.saturating_mul(16);
        }
    }

    /// Every log of the selection, newest first, as ClickHouse streams them.
    pub async fn every_log(
        &self,
        sel: &Selection<'_>,
    ) -> Result<impl Stream<Item = Result<LogRow, ChError>> + 'static, ChError> {
        let sql = if sel.tokens.is_empty() {
            format!("SELECT {LOG_COLUMNS} FROM logs WHERE 0")
        } else {
            format!(
                "SELECT {LOG_COLUMNS} FROM logs WHERE {} {NEWEST_FIRST}",
                sel.filter()
            )
        };
        Ok(self.client.stream::<LogRow>(&sql).await?.boxed())
    }
}

fn view(r: LogRow, usd: &impl Fn(i64) -> f64) -> LogView {
    LogView {
        id: r.id,
        token_id: r.token_id,
        created_at: r.created_at,
        model_name: r.model_name,
        quota: r.quota,
        quota_usd: usd(r.quota),
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        tokens: r.prompt_tokens + r.completion_tokens,
        use_time: r.use_time,
        is_stream: r.is_stream != 0,
        content: r.content,
        key_id: None,
        key_name: None,
    }
}
