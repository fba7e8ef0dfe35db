//! `newapi-datagen`: see `newapi-datagen --help` and the library documentation.

use std::process::ExitCode;

use clap::Parser;
use newapi_datagen::{default_models, generate, IndexMode, InsertMethod, Spec};

/// Bulk-load deterministic new-api `tokens` and `logs` into Postgres or MySQL/MariaDB.
///
/// Prints progress to stderr and, at the end, one JSON line on stdout:
/// {"backend","rows","tokens","heavy_token_id","heavy_token_key","seconds","rows_per_s",…}.
#[derive(Debug, Parser)]
#[command(name = "newapi-datagen", version)]
struct Cli {
    /// Database URL: postgres://… or mysql://…
    #[arg(long, required_unless_present = "print_clickhouse_ddl")]
    url: Option<String>,
    /// Print the statement new-api creates `logs` with in ClickHouse, and exit.
    #[arg(long)]
    print_clickhouse_ddl: bool,
    /// Total generated log rows.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Number of tokens (token index 0 is the heavy one).
    #[arg(long, default_value_t = 100)]
    tokens: u32,
    /// Models: a count (built-in names gpt-4o-mini, claude-3-5-sonnet, …) or a comma list.
    #[arg(long, default_value = "8")]
    models: String,
    /// End of the time range, unix seconds (default: now).
    #[arg(long)]
    end: Option<i64>,
    /// Length of the time range in days (start = end - days*86400).
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Rows of the heavy token (default: rows/10).
    #[arg(long)]
    heavy_token_rows: Option<u64>,
    /// Share of consume (type 2) logs; the rest are types 1,3,4,5,6.
    #[arg(long, default_value_t = 0.9)]
    consume_share: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rows per statement (multi-row INSERT, at most 3640, or COPY).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Connections writing at once.
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// Create new-api's tables first where missing.
    #[arg(long)]
    create_tables: bool,
    /// Empty tokens and logs first.
    #[arg(long)]
    truncate: bool,
    /// Add heavy-token consume logs at exactly start and end.
    #[arg(long)]
    boundary: bool,
    /// Day/night cycle in created_at instead of uniform.
    #[arg(long)]
    diurnal: bool,
    /// created_at follows the row number (ids follow time, as in new-api), with up to 59 s
    /// of jitter, instead of random.
    #[arg(long = "time-ordered")]
    time_ordered: bool,
    /// Token status override INDEX=STATUS (1 enabled, 2 disabled, 3 expired, 4 exhausted); repeatable.
    #[arg(long = "token-status", value_parser = parse_status)]
    token_status: Vec<(u32, i64)>,
    /// logs' secondary indexes during the load: auto (defer when logs starts empty and
    /// rows >= 200000), keep (maintain them), defer (drop, load, rebuild).
    #[arg(long, default_value = "auto", value_parser = parse_indexes)]
    indexes: IndexMode,
    /// How rows are sent: fastest (COPY on Postgres, literals on MySQL), literals
    /// (multi-row INSERT, inline literals), binds (diesel multi-row INSERT, bound
    /// parameters) or copy (Postgres binary COPY).
    #[arg(long, default_value = "fastest", value_parser = parse_method)]
    method: InsertMethod,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn parse_status(s: &str) -> Result<(u32, i64), String> {
    let (i, st) = s
        .split_once('=')
        .ok_or_else(|| format!("expected INDEX=STATUS, got {s:?}"))?;
    Ok((
        i.trim().parse().map_err(|e| format!("token index: {e}"))?,
        st.trim().parse().map_err(|e| format!("status: {e}"))?,
    ))
}

fn parse_indexes(s: &str) -> Result<IndexMode, String> {
    match s {
        "auto" => Ok(IndexMode::Auto),
        "keep" => Ok(IndexMode::Keep),
        "defer" => Ok(IndexMode::Defer),
        _ => Err(format!("unknown index mode {s:?} (auto, keep, defer)")),
    }
}

fn parse_method(s: &str) -> Result<InsertMethod, String> {
    match s {
        "fastest" => Ok(InsertMethod::Fastest),
        "literals" => Ok(InsertMethod::Literals),
        "binds" => Ok(InsertMethod::Binds),
        "copy" => Ok(InsertMethod::Copy),
        _ => Err(format!(
            "unknown method {s:?} (fastest, literals, binds, copy)"
        )),
    }
}

fn models(arg: &str) -> Vec<String> {
    match arg.trim().parse::<usize>() {
        Ok(n) => default_models(n),
        Err(_) => arg
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(url) = cli.url.as_deref() else {
        println!("{}", tollgate_newapi_schema::CLICKHOUSE_LOGS);
        return ExitCode::SUCCESS;
    };
    let spec = Spec {
        rows: cli.rows,
        tokens: cli.tokens,
        models: models(&cli.models),
        end: cli.end,
        days: cli.days,
        heavy_token_rows: cli.heavy_token_rows.unwrap_or(cli.rows / 10),
        consume_share: cli.consume_share,
        seed: cli.seed,
        batch: cli.batch,
        parallel: cli.parallel,
        create_tables: cli.create_tables,
        truncate: cli.truncate,
        boundary: cli.boundary,
        diurnal: cli.diurnal,
        time_ordered: cli.time_ordered,
        token_status: cli.token_status,
        extra: Vec::new(),
        indexes: cli.indexes,
        method: cli.method,
        progress: !cli.quiet,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("newapi-datagen: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(generate(url, &spec)) {
        Ok(report) => {
            let line = serde_json::json!({
                "backend": report.backend,
                "rows": report.rows,
                "tokens": report.tokens,
                "heavy_token_id": report.heavy_token_id,
                "heavy_token_key": report.heavy_token_key,
                "seconds": (report.seconds * 1000.0).round() / 1000.0,
                "rows_per_s": report.rows_per_s().round(),
                "heavy_rows": report.heavy_rows,
                "heavy_consume_rows": report.heavy_consume_rows,
                "heavy_consume_quota": report.heavy_consume_quota,
                "method": report.method,
                "indexes_deferred": report.indexes_deferred,
                "start": report.start,
                "end": report.end,
            });
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("newapi-datagen: {e:#}");
            ExitCode::from(1)
        }
    }
}
