//! The command line: `loadgen <signup|newapi-insert|import|limit-webhook|get|post|usage-mix>
//! [options]`.
//!
//! Output: the human table on stdout; with `--json`, the table goes to stderr and stdout
//! carries exactly one JSON line (the [`Report`]). A scenario with a setup phase
//! (`limit-webhook`) prints one line about it on stderr first. Exit status: 0 when every request (warm-up
//! included) succeeded, or with `--allow-errors`; 1 when a request failed; 2 for a usage
//! error, a refused (non-local) target or a body file that cannot be read.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::report::Report;
use crate::runner::{run as run_scenario, RunLimits, Scenario};
use crate::scenarios::{
    parse_mix, parse_weights, random_prefix, Fixed, Import, LimitWebhook, LimitWebhookOptions,
    MixOptions, NewapiInsert, Signup, UsageMix,
};
use crate::target;
use usage_stats::clickhouse::{ChLogs, ClickHouse};

/// Most workers.
pub const MAX_CONCURRENCY: usize = 4096;
/// Largest request budget.
pub const MAX_REQUESTS: u64 = 100_000_000;
/// Longest time limit, seconds.
pub const MAX_DURATION_S: f64 = 3600.0;
/// Longest per-request timeout, seconds.
pub const MAX_TIMEOUT_S: f64 = 120.0;

/// Closed-loop HTTP load generator for Tollgate's benchmarks. Every run is bounded by a
/// request count and a time limit, and only 127.0.0.1/localhost may be targeted.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Cli {
    /// The scenario.
    #[command(subcommand)]
    pub command: Command,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Key-sync: signup webhook → GET /v1/keys with the user's JWT → the key on the gateway.
    Signup(SignupArgs),
    /// Baseline of key-sync's database mode: one users row and one tokens row inserted
    /// straight into new-api's database, in one transaction.
    NewapiInsert(NewapiInsertArgs),
    /// Baseline: new-api's bare POST /api/token/import → the key on the gateway.
    Import(ImportArgs),
    /// Billing: a signed limit webhook → `auto_recharged` (a Stripe charge and a KMS quota
    /// raise), one fresh organisation per iteration, set up first (not measured).
    LimitWebhook(LimitWebhookArgs),
    /// A fixed GET (round-robin over --url).
    Get(GetArgs),
    /// A fixed POST of --body-file (round-robin over --url).
    Post(PostArgs),
    /// usage-stats as portals use it: keys drawn with a Zipf skew, random unaligned ranges and
    /// zones, a mix of /detail, /chart and /logs; every request distinct (cold cache).
    UsageMix(UsageMixArgs),
}

/// Options every scenario takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Workers (each runs one iteration at a time).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Iterations to measure (the run stops at this count or at --duration-s).
    #[arg(long, default_value_t = 1000)]
    pub requests: u64,
    /// Time limit in seconds (of the measured phase, and separately of the warm-up):
    /// no iteration starts after it.
    #[arg(long = "duration-s", default_value_t = 60.0)]
    pub duration_s: f64,
    /// Warm-up iterations, run first and not recorded.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Per-request timeout in seconds.
    #[arg(long = "timeout-s", default_value_t = 10.0)]
    pub timeout_s: f64,
    /// Print one JSON line on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Exit 0 even if requests failed.
    #[arg(long)]
    pub allow_errors: bool,
}

/// `signup` options.
#[derive(Debug, Args)]
pub struct SignupArgs {
    /// key-sync's base URL.
    #[arg(long = "key-sync", default_value = "http://127.0.0.1:8081")]
    pub key_sync: String,
    /// The gateway's (new-api or simulator) base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub newapi: String,
    /// key-sync's SUPABASE_WEBHOOK_SECRET.
    #[arg(long = "webhook-secret")]
    pub webhook_secret: String,
    /// key-sync's SUPABASE_JWT_SECRET (HS256 user tokens are minted with it).
    #[arg(long = "jwt-secret")]
    pub jwt_secret: String,
    /// Only the webhook (one request per iteration), for its own latency.
    #[arg(long = "webhook-only")]
    pub webhook_only: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

/// `newapi-insert` options.
#[derive(Debug, Args)]
pub struct NewapiInsertArgs {
    /// new-api's database (`postgres://…` or `mysql://…`, on this machine).
    #[arg(long = "database-url")]
    pub database_url: String,
    /// Connections (key-sync's database mode uses 8).
    #[arg(long, default_value_t = 8)]
    pub pool: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

/// `import` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The gateway's (new-api or simulator) base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub newapi: String,
    /// new-api's admin token (NEWAPI_ADMIN_TOKEN).
    #[arg(long = "admin-token")]
    pub admin_token: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

/// `limit-webhook` options.
#[derive(Debug, Args)]
pub struct LimitWebhookArgs {
    /// billing's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8083")]
    pub url: String,
    /// billing's ADMIN_TOKEN (the org API of the setup phase).
    #[arg(long = "admin-token")]
    pub admin_token: String,
    /// billing's LITELLM_WEBHOOK_SECRET (events are signed with it).
    #[arg(long = "webhook-secret")]
    pub webhook_secret: String,
    /// Organisations to set up, one per iteration: at least --requests + --warmup (the
    /// default).
    #[arg(long)]
    pub orgs: Option<u64>,
    /// Organisation ids are "<prefix>-<i>" (default: bench-<8 random hex digits>).
    #[arg(long = "org-prefix")]
    pub org_prefix: Option<String>,
    /// Organisations set up at a time (the setup phase is not measured).
    #[arg(long = "setup-concurrency", default_value_t = 8)]
    pub setup_concurrency: usize,
    /// billing's LITELLM_ALERT_TOKEN: send LiteLLM's unsigned budget alerts to
    /// /webhooks/litellm/budget?token=… instead of signed limit events.
    #[arg(long = "alert-token")]
    pub alert_token: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

/// `get` options.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// URL to request (repeatable: requests go round-robin).
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Request header "Name: value" (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// The status that counts as success.
    #[arg(long = "expect-status", default_value_t = 200)]
    pub expect_status: u16,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

/// `post` options.
#[derive(Debug, Args)]
pub struct PostArgs {
    /// URL to post to (repeatable: requests go round-robin).
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Request header "Name: value" (repeatable). No Content-Type is sent unless given.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// File whose bytes are the request body, sent as is.
    #[arg(long = "body-file")]
    pub body_file: std::path::PathBuf,
    /// The status that counts as success.
    #[arg(long = "expect-status", default_value_t = 200)]
    pub expect_status: u16,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

/// `usage-mix` options.
#[derive(Debug, Args)]
pub struct UsageMixArgs {
    /// usage-stats' base URL.
    #[arg(long, default_value = "http://127.0.0.1:8082")]
    pub url: String,
    /// File with one key per line (with or without `sk-`), most requested first.
    #[arg(long = "keys-file")]
    pub keys_file: std::path::PathBuf,
    /// Zipf exponent of the key draw (key k has weight 1/k^zipf).
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Ranges lie at or after this unix second.
    #[arg(long)]
    pub first: i64,
    /// Ranges lie at or before this unix second.
    #[arg(long)]
    pub last: i64,
    /// Shortest range, days.
    #[arg(long = "min-days", default_value_t = 1.0)]
    pub min_days: f64,
    /// Longest range, days (hourly charts: at most 7).
    #[arg(long = "max-days", default_value_t = 90.0)]
    pub max_days: f64,
    /// Request kinds and weights: detail, chart-day, chart-hour, logs.
    #[arg(long, default_value = "detail=50,chart-day=20,chart-hour=10,logs=20")]
    pub mix: String,
    /// Time zones and weights (UTC is sent as no tz).
    #[arg(
        long,
        default_value = "UTC=40,Asia/Shanghai=25,America/New_York=15,Europe/London=10,Asia/Kolkata=10"
    )]
    pub zones: String,
    /// Seed of every draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Send the queries usage-stats would send straight to this ClickHouse
    /// (`clickhouse://user:password@host:8123/db`, as `NEWAPI_LOG_DATABASE_URL`), not to
    /// usage-stats; needs `--token-ids-file`.
    #[arg(long, requires = "token_ids_file")]
    pub clickhouse: Option<String>,
    /// One new-api token id per line, in `--keys-file` order (with `--clickhouse`).
    #[arg(long = "token-ids-file")]
    pub token_ids_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,
}

impl UsageMixArgs {
    /// The log source and the token ids of `--clickhouse`, when given.
    fn direct(&self) -> anyhow::Result<Option<(ChLogs, Vec<i64>)>> {
        let (Some(url), Some(file)) = (&self.clickhouse, &self.token_ids_file) else {
            return Ok(None);
        };
        let target = usage_stats::clickhouse::dsn::parse(url)
            .map_err(anyhow::Error::msg)?
            .ok_or_else(|| anyhow::anyhow!("--clickhouse is not a ClickHouse URL"))?;
        let client = ClickHouse::new(target, std::time::Duration::from_secs(30))?;
        let ids = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read --token-ids-file {}: {e}", file.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--token-ids-file: {e}"))?;
        Ok(Some((ChLogs::new(client), ids)))
    }

    fn options(&self) -> anyhow::Result<MixOptions> {
        let keys: Vec<String> = std::fs::read_to_string(&self.keys_file)
            .map_err(|e| {
                anyhow::anyhow!("cannot read --keys-file {}: {e}", self.keys_file.display())
            })?
            .lines()
            .map(|l| l.trim().trim_start_matches("sk-").to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        let zones = parse_weights(&self.zones)?;
        Ok(MixOptions {
            base: self.url.clone(),
            keys,
            zipf: self.zipf,
            first: self.first,
            last: self.last,
            min_days: self.min_days,
            max_days: self.max_days,
            mix: parse_mix(&self.mix)?,
            zones,
            seed: self.seed,
            direct: self.direct()?,
        })
    }
}

impl CommonArgs {
    fn limits(&self) -> anyhow::Result<RunLimits> {
        anyhow::ensure!(
            (1..=MAX_CONCURRENCY).contains(&self.concurrency),
            "--concurrency must be between 1 and {MAX_CONCURRENCY}"
        );
        anyhow::ensure!(
            (1..=MAX_REQUESTS).contains(&self.requests),
            "--requests must be between 1 and {MAX_REQUESTS}"
        );
        anyhow::ensure!(
            self.warmup <= MAX_REQUESTS,
            "--warmup must be at most {MAX_REQUESTS}"
        );
        anyhow::ensure!(
            self.duration_s.is_finite()
                && self.duration_s > 0.0
                && self.duration_s <= MAX_DURATION_S,
            "--duration-s must be more than 0 and at most {MAX_DURATION_S}"
        );
        anyhow::ensure!(
            self.timeout_s.is_finite() && self.timeout_s > 0.0 && self.timeout_s <= MAX_TIMEOUT_S,
            "--timeout-s must be more than 0 and at most {MAX_TIMEOUT_S}"
        );
        Ok(RunLimits {
            concurrency: self.concurrency,
            requests: self.requests,
            duration: Duration::from_secs_f64(self.duration_s),
            warmup: self.warmup,
            timeout: Duration::from_secs_f64(self.timeout_s),
        })
    }
}

/// Parse `args` (the program name first), run, write the output, return the exit status.
pub async fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let rendered = e.render().to_string();
            let _ = if e.use_stderr() {
                write!(err, "{rendered}")
            } else {
                write!(out, "{rendered}")
            };
            return code;
        }
    };
    match execute(cli).await {
        Ok((report, common, preface)) => {
            if let Some(line) = preface {
                let _ = writeln!(err, "{line}");
            }
            if common.json {
                let _ = write!(err, "{}", report.table());
                let _ = writeln!(out, "{}", report.to_json_line());
            } else {
                let _ = write!(out, "{}", report.table());
            }
            if report.all_errors() > 0 && !common.allow_errors {
                let _ = writeln!(
                    err,
                    "loadgen: {} request(s) failed (use --allow-errors to exit 0 anyway)",
                    report.all_errors()
                );
                1
            } else {
                0
            }
        }
        Err(e) => {
            let _ = writeln!(err, "loadgen: {e:#}");
            2
        }
    }
}

/// The report, the common options and a line to print before the table (setup phases).
type Outcome = (Report, CommonArgs, Option<String>);

async fn execute(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Signup(a) => {
            let mut scenario =
                Signup::new(&a.key_sync, &a.newapi, &a.webhook_secret, &a.jwt_secret)?;
            if a.webhook_only {
                scenario = scenario.webhook_only();
            }
            go(scenario, a.common).await
        }
        Command::Import(a) => {
            let scenario = Import::new(&a.newapi, &a.admin_token)?;
            go(scenario, a.common).await
        }
        Command::NewapiInsert(a) => {
            let scenario = NewapiInsert::new(&a.database_url, a.pool)?;
            go(scenario, a.common).await
        }
        Command::LimitWebhook(a) => {
            let limits = a.common.limits()?;
            let needed = limits.requests.saturating_add(limits.warmup);
            let orgs = a.orgs.unwrap_or(needed);
            anyhow::ensure!(
                orgs >= needed,
                "--orgs {orgs} is fewer than --requests + --warmup ({needed}): each \
                 organisation is recharged once"
            );
            anyhow::ensure!(
                (1..=MAX_CONCURRENCY).contains(&a.setup_concurrency),
                "--setup-concurrency must be between 1 and {MAX_CONCURRENCY}"
            );
            let options = LimitWebhookOptions {
                billing: a.url,
                admin_token: a.admin_token,
                webhook_secret: a.webhook_secret,
                orgs,
                org_prefix: a.org_prefix.unwrap_or_else(random_prefix),
                setup_concurrency: a.setup_concurrency,
                alert_token: a.alert_token,
            };
            let client = target::client(
                limits.concurrency.max(options.setup_concurrency),
                limits.timeout,
            )?;
            let (scenario, setup) = LimitWebhook::setup(&client, &options).await?;
            let report = run_scenario(scenario, client, &limits).await;
            Ok((report, a.common, Some(setup.to_string())))
        }
        Command::Get(a) => {
            let scenario = Fixed::get(&a.urls, &a.headers, a.expect_status)?;
            go(scenario, a.common).await
        }
        Command::Post(a) => {
            let body = std::fs::read(&a.body_file).map_err(|e| {
                anyhow::anyhow!("cannot read --body-file {}: {e}", a.body_file.display())
            })?;
            let scenario = Fixed::post(&a.urls, &a.headers, body, a.expect_status)?;
            go(scenario, a.common).await
        }
        Command::UsageMix(a) => {
            let scenario = UsageMix::new(a.options()?)?;
            go(scenario, a.common).await
        }
    }
}

async fn go<S: Scenario>(scenario: S, common: CommonArgs) -> anyhow::Result<Outcome> {
    let limits = common.limits()?;
    let client = target::client(limits.concurrency, limits.timeout)?;
    let report = run_scenario(scenario, client, &limits).await;
    Ok((report, common, None))
}
