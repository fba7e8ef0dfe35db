//! `newapi-datagen`: fill a new-api database (Postgres or MySQL/MariaDB, chosen by the URL
//! scheme) with `tokens` and `logs` in new-api's exact column layout — fast (multi-row
//! `INSERT`s over several connections) and deterministically from a seed.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use newapi_datagen::{generate, Spec};
//! let spec = Spec { rows: 1_000_000, heavy_token_rows: 200_000, seed: 42, truncate: true, ..Spec::default() };
//! let report = generate("postgres://postgres@127.0.0.1/newapi", &spec).await?;
//! println!("{} rows, heavy token {} (sk-{})", report.rows, report.heavy_token_id, report.heavy_token_key);
//! # Ok(()) }
//! ```
//!
//! What is generated (all a pure function of the [`Spec`]):
//! - `tokens` number of tokens; token index 0 is the *heavy* token (name `heavy`), the others
//!   are `token-<i>`. Keys: 48 characters `[0-9a-zA-Z]` from [`token_key`]`(seed, i)`.
//!   Token `i` belongs to user `i + 1` (username `user<i+1>`); status 1 (enabled) unless
//!   [`Spec::token_status`] says otherwise; `expired_time` −1, `unlimited_quota`, group
//!   `default`; `used_quota` = the sum of its consume logs' quota, `accessed_time` = its
//!   newest log. The `users` table is not touched.
//! - `rows` logs; exactly `heavy_token_rows` of them (evenly interleaved) belong to the heavy
//!   token, the rest are spread over tokens 1.. with a Zipf (1/k) skew. `created_at` is
//!   uniform over `[start, end]` (or diurnal, or following the row number:
//!   [`Spec::time_ordered`]); each row is a consume log (type 2) with
//!   probability `consume_share`, otherwise type 5, 1, 4, 6 or 3 (weights 40/20/15/15/10).
//!   Every row carries its token's `token_id`, `token_name`, `user_id` and `username`.
//!   Consume rows: `quota = round((prompt + completion × completion_ratio) × model_ratio)`
//!   (≥ 1) with the model's new-api ratios, `use_time` 1..120 s, `other = '{}'`.
//! - [`Spec::boundary`] adds two heavy-token consume logs at exactly `start` and `end`
//!   (on top of `rows`); [`Spec::extra`] rows are inserted verbatim.
//!
//! Speed: Postgres gets binary `COPY` (through tokio-postgres, `synchronous_commit = off`
//! for the loader's sessions), MySQL multi-row `INSERT`s with inline literals over the text
//! protocol; big loads into an empty `logs` drop its secondary indexes and build them at
//! the end ([`IndexMode`]). [`insert_logs`] inserts given rows exactly (for exactness
//! tests), [`insert_logs_bound`] does the same with diesel's bound multi-row insert.
//!
//! Same seed and spec → the same tokens (keys, names, statuses, quotas) and the same
//! multiset of log rows, whatever `batch`, `parallel`, the method or the backend; on a fresh (or truncated)
//! database even the token ids are the same (1..=tokens).

#![warn(missing_docs)]

mod copy;
mod db;
mod models;
mod plan;
mod rng;
mod sql;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tollgate_newapi_schema::{create_tables, log_type, Backend, NewLog};

pub use db::{
    insert_logs, insert_logs_bound, insert_tokens, MAX_LOGS_PER_STATEMENT, MAX_TOKENS_PER_STATEMENT,
};
pub use models::{default_models, model_ratios};
pub use plan::{token_key, KEY_LEN};

use plan::{Core, Plan};

/// What to generate. See the crate documentation for the shape of the data.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Generated log rows (not counting `boundary` and `extra`).
    pub rows: u64,
    /// Number of tokens (≥ 1); token index 0 is the heavy token.
    pub tokens: u32,
    /// Model names (see [`default_models`]); pricing from [`model_ratios`].
    pub models: Vec<String>,
    /// End of the time range, unix seconds (inclusive); `None` = now.
    pub end: Option<i64>,
    /// Length of the time range in days: `start = end − days·86400` (inclusive).
    pub days: u32,
    /// Exactly this many of `rows` belong to the heavy token (index 0).
    pub heavy_token_rows: u64,
    /// Probability of a row being a consume log (type 2); the rest are types 1,3,4,5,6.
    pub consume_share: f64,
    /// Seed of everything.
    pub seed: u64,
    /// Rows per statement: per multi-row `INSERT` (capped at [`MAX_LOGS_PER_STATEMENT`])
    /// or per `COPY`.
    pub batch: usize,
    /// Connections writing logs at once.
    pub parallel: usize,
    /// Create new-api's tables (`create_tables`) first, where missing.
    pub create_tables: bool,
    /// Empty `tokens` and `logs` first (and restart their ids).
    pub truncate: bool,
    /// Add two heavy-token consume logs at exactly `start` and exactly `end`.
    pub boundary: bool,
    /// Spread `created_at` with a day/night cycle (UTC) instead of uniformly.
    pub diurnal: bool,
    /// `created_at` follows the row number (as new-api's ids follow its clock): row `i` of
    /// `rows` at `start + i × span / rows` plus up to 59 s of jitter, capped at `end`.
    /// Takes precedence over `diurnal`.
    pub time_ordered: bool,
    /// Status overrides `(token index, status)`; status 1 enabled, 2 disabled, 3 expired,
    /// 4 exhausted. Tokens not listed are enabled.
    pub token_status: Vec<(u32, i64)>,
    /// Rows inserted verbatim after the generated ones (not counted in the heavy-token or
    /// per-type figures of the [`Report`], but in `rows`).
    pub extra: Vec<NewLog>,
    /// Whether `logs`' secondary indexes are maintained during the load or dropped and
    /// rebuilt afterwards.
    pub indexes: IndexMode,
    /// How log rows are sent.
    pub method: InsertMethod,
    /// Print progress to stderr every few seconds.
    pub progress: bool,
}

/// What happens to new-api's secondary indexes on `logs` during a load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IndexMode {
    /// [`IndexMode::Defer`] when `logs` is empty at the start (fresh or truncated) and at
    /// least [`AUTO_DEFER_ROWS`] rows are generated; [`IndexMode::Keep`] otherwise.
    #[default]
    Auto,
    /// Leave them; every insert maintains all eleven.
    Keep,
    /// Drop them before the logs go in and build them afterwards — about twice as fast
    /// for big loads. They are rebuilt (as they were; missing new-api ones as new-api
    /// defines them) even when the load fails, and readers see no indexes meanwhile.
    Defer,
}

/// Smallest load for which [`IndexMode::Auto`] defers the indexes.
pub const AUTO_DEFER_ROWS: u64 = 200_000;

/// How [`generate`] sends log rows: one statement per [`Spec::batch`] rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InsertMethod {
    /// [`InsertMethod::Copy`] on Postgres, [`InsertMethod::Literals`] on MySQL.
    #[default]
    Fastest,
    /// Multi-row `INSERT`s with inline, safely quoted literals over the text protocol
    /// ([`insert_logs`]).
    Literals,
    /// diesel's `insert_into(logs).values(&[NewLog])` with bound parameters
    /// ([`insert_logs_bound`]).
    Binds,
    /// Postgres only: binary `COPY … FROM STDIN` through tokio-postgres.
    Copy,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            rows: 100_000,
            tokens: 100,
            models: default_models(8),
            end: None,
            days: 90,
            heavy_token_rows: 10_000,
            consume_share: 0.9,
            seed: 1,
            batch: 2000,
            parallel: 2,
            create_tables: false,
            truncate: false,
            boundary: false,
            diurnal: false,
            time_ordered: false,
            token_status: Vec::new(),
            extra: Vec::new(),
            indexes: IndexMode::Auto,
            method: InsertMethod::Fastest,
            progress: false,
        }
    }
}

/// What [`generate`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `postgres` or `mysql`.
    pub backend: &'static str,
    /// Log rows inserted in total (generated + boundary + extra).
    pub rows: u64,
    /// Tokens inserted.
    pub tokens: u32,
    /// Database id of the heavy token (index 0).
    pub heavy_token_id: i64,
    /// Its key (without `sk-`).
    pub heavy_token_key: String,
    /// Log rows of the heavy token (generated + boundary).
    pub heavy_rows: u64,
    /// Consume logs of the heavy token.
    pub heavy_consume_rows: u64,
    /// Sum of `quota` over the heavy token's consume logs.
    pub heavy_consume_quota: i64,
    /// Sum of `prompt_tokens + completion_tokens` over them.
    pub heavy_consume_tokens: i64,
    /// Generated (+ boundary) rows per log type.
    pub type_counts: BTreeMap<i64, u64>,
    /// Start of the time range (unix seconds, inclusive).
    pub start: i64,
    /// End of the time range (unix seconds, inclusive).
    pub end: i64,
    /// How the logs were sent: `copy`, `literals` or `binds`.
    pub method: &'static str,
    /// Whether `logs`' indexes were dropped during the load and rebuilt.
    pub indexes_deferred: bool,
    /// Database ids of the tokens, by index.
    #[serde(skip)]
    pub token_ids: Vec<i64>,
    /// Wall time of the whole run (tables, tokens, logs, indexes).
    pub seconds: f64,
}

impl Report {
    /// `rows / seconds`.
    pub fn rows_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.rows as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// What the logs add up to, per token and overall (for `tokens.used_quota` and the report).
struct Totals {
    used_quota: Vec<i64>,
    last_at: Vec<i64>,
    type_counts: BTreeMap<i64, u64>,
    heavy_rows: u64,
    heavy_consume_rows: u64,
    heavy_consume_quota: i64,
    heavy_consume_tokens: i64,
}

impl Totals {
    fn new(tokens: usize) -> Totals {
        Totals {
            used_quota: vec![0; tokens],
            last_at: vec![i64::MIN; tokens],
            type_counts: BTreeMap::new(),
            heavy_rows: 0,
            heavy_consume_rows: 0,
            heavy_consume_quota: 0,
            heavy_consume_tokens: 0,
        }
    }

    fn add(&mut self, c: &Core) {
        let t = c.token as usize;
        *self.type_counts.entry(c.log_type).or_default() += 1;
        self.last_at[t] = self.last_at[t].max(c.created_at);
        if t == 0 {
            self.heavy_rows += 1;
        }
        if c.log_type == log_type::CONSUME {
            self.used_quota[t] += c.quota;
            if t == 0 {
                self.heavy_consume_rows += 1;
                self.heavy_consume_quota += c.quota;
                self.heavy_consume_tokens += c.prompt_tokens + c.completion_tokens;
            }
        }
    }

    fn merge(&mut self, other: Totals) {
        for (a, b) in self.used_quota.iter_mut().zip(other.used_quota) {
            *a += b;
        }
        for (a, b) in self.last_at.iter_mut().zip(other.last_at) {
            *a = (*a).max(b);
        }
        for (k, v) in other.type_counts {
            *self.type_counts.entry(k).or_default() += v;
        }
        self.heavy_rows += other.heavy_rows;
        self.heavy_consume_rows += other.heavy_consume_rows;
        self.heavy_consume_quota += other.heavy_consume_quota;
        self.heavy_consume_tokens += other.heavy_consume_tokens;
    }
}

/// Add up all generated rows, on several threads.
fn totals(plan: &Plan) -> Totals {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = plan.rows.div_ceil(threads.max(1)).max(1);
    let mut all = Totals::new(plan.tokens.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let mut t = Totals::new(plan.tokens.len());
                    for i in (k * per)..((k + 1) * per).min(plan.rows) {
                        t.add(&plan.core(i));
                    }
                    t
                })
            })
            .collect();
        for h in handles {
            all.merge(h.join().expect("totals thread panicked"));
        }
    });
    if plan.boundary {
        for which in 0..2 {
            all.add(&plan.boundary_core(which));
        }
    }
    all
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

struct Shared {
    url: String,
    plan: Plan,
    token_ids: Vec<i64>,
    batch: u64,
    method: InsertMethod,
    chunks: u64,
    next_chunk: AtomicU64,
    done: AtomicU64,
    failed: AtomicBool,
}

/// One log-writing connection (one per worker, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Writer {
    Diesel(tollgate_newapi_schema::NewapiConn, InsertMethod),
    Copy(tokio_postgres::Client),
}

impl Writer {
    async fn open(url: &str, method: InsertMethod) -> anyhow::Result<Writer> {
        Ok(match method {
            InsertMethod::Copy => Writer::Copy(copy::connect(url).await?),
            other => Writer::Diesel(db::connect(url).await?, other),
        })
    }

    async fn write(&mut self, rows: &[NewLog]) -> anyhow::Result<u64> {
        match self {
            Writer::Copy(client) => copy::copy_logs(client, rows).await,
            Writer::Diesel(conn, InsertMethod::Binds) => Ok(insert_logs_bound(conn, rows).await?),
            Writer::Diesel(conn, _) => insert_logs(conn, rows).await,
        }
    }
}

async fn log_worker(shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut writer = Writer::open(&shared.url, shared.method).await?;
    let mut rows: Vec<NewLog> = Vec::with_capacity(shared.batch as usize);
    while !shared.failed.load(Ordering::Relaxed) {
        let chunk = shared.next_chunk.fetch_add(1, Ordering::Relaxed);
        if chunk >= shared.chunks {
            break;
        }
        let lo = chunk * shared.batch;
        let hi = (lo + shared.batch).min(shared.plan.rows);
        rows.clear();
        rows.extend((lo..hi).map(|i| shared.plan.log(&shared.plan.core(i), &shared.token_ids)));
        if let Err(e) = writer.write(&rows).await {
            shared.failed.store(true, Ordering::Relaxed);
            return Err(e.context(format!("inserting logs {lo}..{hi}")));
        }
        shared.done.fetch_add(hi - lo, Ordering::Relaxed);
    }
    Ok(())
}

async fn load_logs(shared: &Arc<Shared>, parallel: usize) -> anyhow::Result<()> {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..parallel.min(shared.chunks.max(1) as usize) {
        workers.spawn(log_worker(Arc::clone(shared)));
    }
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined.map_err(anyhow::Error::from).and_then(|r| r) {
            shared.failed.store(true, Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Fill the new-api database at `url` (`postgres://…` or `mysql://…`) as `spec` says.
///
/// Order: tables ([`Spec::create_tables`]), [`Spec::truncate`], tokens (their keys must not
/// exist yet: truncate on reruns), the generated logs over [`Spec::parallel`] connections
/// (one multi-row `INSERT` or `COPY` per [`Spec::batch`] rows, see [`InsertMethod`]), the
/// boundary and extra rows, and the index rebuild ([`IndexMode`]).
pub async fn generate(url: &str, spec: &Spec) -> anyhow::Result<Report> {
    let started = Instant::now();
    let backend = Backend::from_url(url)?;
    let plan = Plan::new(spec, spec.end.unwrap_or_else(now))?;
    let method = match (spec.method, backend) {
        (InsertMethod::Fastest, Backend::Postgres) => InsertMethod::Copy,
        (InsertMethod::Fastest, Backend::Mysql) => InsertMethod::Literals,
        (InsertMethod::Copy, Backend::Mysql) => anyhow::bail!("COPY is only for Postgres"),
        (m, _) => m,
    };
    let batch = if method == InsertMethod::Copy {
        spec.batch.max(1)
    } else {
        spec.batch.clamp(1, MAX_LOGS_PER_STATEMENT)
    } as u64;

    let mut conn = db::connect(url).await?;
    if spec.create_tables {
        create_tables(&mut conn).await?;
    }
    if spec.truncate {
        db::truncate(&mut conn).await?;
    }

    // Add everything up first: tokens.used_quota and the report need the totals.
    let plan = Arc::new(plan);
    let totals = {
        let plan = Arc::clone(&plan);
        tokio::task::spawn_blocking(move || totals(&plan)).await?
    };
    let plan = Arc::into_inner(plan).expect("plan still shared");

    let new_tokens: Vec<_> = (0..plan.tokens.len())
        .map(|i| plan.token(i, totals.used_quota[i], totals.last_at[i]))
        .collect();
    insert_tokens(&mut conn, &new_tokens)
        .await
        .map_err(|e| anyhow::Error::from(e).context("inserting tokens (rerun with truncate?)"))?;
    let keys: Vec<String> = plan.tokens.iter().map(|t| t.key.clone()).collect();
    let token_ids = db::token_ids(&mut conn, &keys).await?;
    drop(new_tokens);

    let defer = match spec.indexes {
        IndexMode::Keep => false,
        IndexMode::Defer => true,
        IndexMode::Auto => plan.rows >= AUTO_DEFER_ROWS && db::logs_empty(&mut conn).await?,
    };
    let dropped = if defer {
        db::drop_log_indexes(&mut conn).await?
    } else {
        db::DroppedIndexes::default()
    };

    let shared = Arc::new(Shared {
        url: url.to_owned(),
        chunks: plan.rows.div_ceil(batch),
        plan,
        token_ids,
        batch,
        method,
        next_chunk: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed: AtomicBool::new(false),
    });
    let ticker = spec.progress.then(|| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(3));
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = shared.done.load(Ordering::Relaxed);
                let s = t0.elapsed().as_secs_f64();
                eprintln!(
                    "newapi-datagen: {done}/{} log rows, {s:.0} s, {:.0} rows/s",
                    shared.plan.rows,
                    done as f64 / s
                );
            }
        })
    });
    let load_started = Instant::now();
    let loaded = load_logs(&shared, spec.parallel).await;
    if let Some(t) = ticker {
        t.abort();
    }
    if spec.progress {
        let s = load_started.elapsed().as_secs_f64();
        eprintln!(
            "newapi-datagen: {} log rows in {s:.1} s ({:.0} rows/s) after {:.1} s of setup",
            shared.done.load(Ordering::Relaxed),
            shared.done.load(Ordering::Relaxed) as f64 / s,
            (load_started - started).as_secs_f64()
        );
    }

    let mut rest = async {
        loaded?;
        let plan = &shared.plan;
        let mut more: Vec<NewLog> = Vec::new();
        if plan.boundary {
            more.extend((0..2).map(|w| plan.log(&plan.boundary_core(w), &shared.token_ids)));
        }
        more.extend(spec.extra.iter().cloned());
        insert_logs(&mut conn, &more).await?;
        anyhow::Ok(more.len() as u64)
    }
    .await;
    if !dropped.statements.is_empty() {
        if spec.progress {
            eprintln!(
                "newapi-datagen: rebuilding {} index statement(s) on logs",
                dropped.statements.len()
            );
        }
        let rebuild_started = Instant::now();
        let rebuilt = db::rebuild_indexes(url, &dropped, spec.parallel).await;
        if spec.progress {
            eprintln!(
                "newapi-datagen: indexes rebuilt in {:.1} s",
                rebuild_started.elapsed().as_secs_f64()
            );
        }
        if let Err(e) = rebuilt {
            rest = Err(match rest {
                Ok(_) => e.context("rebuilding the indexes of logs"),
                Err(load) => load.context(format!("also failed to rebuild indexes: {e}")),
            });
        }
    }
    let more = rest?;

    let heavy_token_id = shared.token_ids[0];
    Ok(Report {
        backend: match backend {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        },
        rows: shared.plan.rows + more,
        tokens: spec.tokens,
        heavy_token_id,
        heavy_token_key: shared.plan.tokens[0].key.clone(),
        heavy_rows: totals.heavy_rows,
        heavy_consume_rows: totals.heavy_consume_rows,
        heavy_consume_quota: totals.heavy_consume_quota,
        heavy_consume_tokens: totals.heavy_consume_tokens,
        type_counts: totals.type_counts,
        start: shared.plan.start,
        end: shared.plan.end,
        method: match method {
            InsertMethod::Copy => "copy",
            InsertMethod::Binds => "binds",
            _ => "literals",
        },
        indexes_deferred: defer,
        token_ids: shared.token_ids.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}
