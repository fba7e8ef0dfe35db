//! Differential test: generated new-api `logs` (id holes, rows committed out of id order,
//! several models and tokens, non-consume types, times on and around bucket edges, days and
//! DST changes) and generated queries (unaligned `start`/`end`, fixed and IANA zones, hours
//! and days, pages, model filters) against `/detail`, `/chart`, `/logs` and `/logs.csv`:
//! every figure and row must equal SQL over the raw rows.
//!
//! Local days and hours of the reference come from Postgres's own tz database
//! (`AT TIME ZONE`), not from the service's (chrono-tz): two implementations must agree.
//!
//! The same cases run with new-api's logs in ClickHouse (`clickhouse()`): rows written there
//! as new-api writes them (`id` 0, a `request_id` each), the reference queries asked of
//! ClickHouse, pages ordered by `request_id` where ids tie.
//!
//! Cases are reproducible: the generator is seeded (`DIFF_SEED`, default below), and
//! `DIFF_CASES` sets how many run (default 24 per backend). A failing case is shrunk and
//! printed with its seed.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use support::*;
use tollgate_newapi_schema::{with_conn, Backend, NewToken, NewapiConn};
use tollgate_testkit::clickhouse::ChDb;
use tollgate_testkit::{newapi_db, TestApp};
use usage_stats::query::views::{Answer, Chart, Detail, Granularity, LogsPage};

const DAY: i64 = 86_400;
const DEFAULT_SEED: u64 = 0x7011_6a7e_2026_1206;

/// Instants around which a case's logs and queries fall: DST changes (US, EU, Lord Howe's
/// half-hour shifts) and a plain UTC midnight.
const ANCHORS: [i64; 7] = [
    1_772_953_200, // 2026-03-08T07:00Z, New York springs forward
    1_774_746_000, // 2026-03-29T01:00Z, London springs forward
    1_775_314_800, // 2026-04-04T15:00Z, Lord Howe falls back 30 min
    1_791_041_400, // 2026-10-03T15:30Z, Lord Howe springs forward 30 min
    1_792_890_000, // 2026-10-25T01:00Z, London falls back
    1_793_512_800, // 2026-11-01T06:00Z, New York falls back
    1_763_769_600, // 2025-11-22T00:00Z
];
const MODELS: [&str; 5] = [
    "gpt-4o",
    "o3",
    "claude-3-5-sonnet",
    "deepseek-chat",
    "no-such-model",
];
const ZONES: [&str; 12] = [
    "",
    "UTC",
    "+08:00",
    "-03:30",
    "+05:45",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
];

#[derive(Debug, Clone)]
struct GenLog {
    holes_before: i64,
    late: bool,
    other_token: bool,
    kind: i64,
    model: usize,
    offset: i64,
    snap: i64,
    just_before: bool,
    quota: i64,
    prompt: i64,
    completion: i64,
    use_time: i64,
}

#[derive(Debug, Clone)]
struct GenQuery {
    start_offset: i64,
    len: i64,
    snap: i64,
    zone: usize,
    hourly: bool,
    page: i64,
    page_size: i64,
    model: Option<usize>,
}

#[derive(Debug, Clone)]
struct Case {
    anchor: usize,
    logs: Vec<GenLog>,
    queries: Vec<GenQuery>,
}

fn snap() -> impl Strategy<Value = i64> {
    prop_oneof![4 => Just(1i64), 1 => Just(900i64), 1 => Just(3_600i64), 1 => Just(DAY)]
}

fn gen_log() -> impl Strategy<Value = GenLog> {
    (
        prop_oneof![6 => Just(0i64), 3 => 1..4i64, 1 => 10..200i64],
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        prop_oneof![8 => Just(2i64), 1 => Just(1i64), 1 => prop::sample::select(vec![3i64, 4, 5, 6])],
        0..4usize,
        -3 * DAY..3 * DAY,
        snap(),
        any::<bool>(),
        0..5_000i64,
        0..2_000i64,
        0..2_000i64,
        0..30i64,
    )
        .prop_map(
            |(holes_before, late, other_token, kind, model, offset, snap, just_before, quota, prompt, completion, use_time)| GenLog {
                holes_before,
                late,
                other_token,
                kind,
                model,
                offset,
                snap,
                just_before,
                quota,
                prompt,
                completion,
                use_time,
            },
        )
}

fn gen_query() -> impl Strategy<Value = GenQuery> {
    (
        -4 * DAY..3 * DAY,
        prop_oneof![1 => Just(0i64), 2 => 0..3_600i64, 6 => 0..6 * DAY],
        snap(),
        0..ZONES.len(),
        any::<bool>(),
        prop_oneof![3 => Just(1i64), 1 => 2..6i64],
        prop_oneof![Just(1i64), 2..30i64, Just(100i64)],
        prop::option::weighted(0.3, 0..MODELS.len()),
    )
        .prop_map(
            |(start_offset, len, snap, zone, hourly, page, page_size, model)| GenQuery {
                start_offset,
                len,
                snap,
                zone,
                hourly,
                page,
                page_size,
                model,
            },
        )
}

fn gen_case() -> impl Strategy<Value = Case> {
    (
        0..ANCHORS.len(),
        prop::collection::vec(gen_log(), 0..120),
        prop::collection::vec(gen_query(), 3..6),
    )
        .prop_map(|(anchor, logs, queries)| Case {
            anchor,
            logs,
            queries,
        })
}

/// One running service and its new-api database, shared by the cases of one backend (each
/// case has its own tokens and ids).
struct World {
    env: Env,
    next_id: Mutex<i64>,
    /// new-api's logs, when they are in ClickHouse.
    ch: Option<ChDb>,
}

fn check_backend(backend: Backend) {
    check(backend, false);
}

fn check(backend: Backend, on_clickhouse: bool) {
    let seed = std::env::var("DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let cases = std::env::var("DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The app stops from its Drop, which needs the runtime's context.
    let _context = rt.enter();
    let world = rt.block_on(async {
        let newapi = newapi_db(backend).await;
        let url = newapi.url().to_owned();
        let ch = match on_clickhouse {
            true => Some(ChDb::create().await),
            false => {
                // 11 000 holes below every case's ids, all waited for: a late commit must
                // still be found at once (the wait list was once re-read 10 000 at a time,
                // lowest first).
                write_logs(&url, &every_other_id(1, 11_001, 0, now() - DAY)).await;
                None
            }
        };
        let logs_url = ch.as_ref().map(ChDb::reader_url);
        let app = TestApp::spawn(|db| async move {
            let mut s = settings(&db, &url, 100);
            s.usage.newapi_log_database_url = logs_url.map(Into::into);
            // Cases lie months apart: wait for every hole, so late commits always count.
            s.usage.ingest_gap_grace_secs = 20 * 365 * DAY as u64;
            s.usage.ingest_batch = 2_000;
            usage_stats::startup::build(s).await
        })
        .await
        .expect("usage-stats starts");
        World {
            env: Env { app, newapi },
            next_id: Mutex::new(22_010),
            ch,
        }
    });
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        max_shrink_iters: 64,
        max_shrink_time: 30_000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let result = runner.run(&gen_case(), |case| rt.block_on(run_case(&world, &case)));
    if let Err(e) = result {
        panic!("differential test failed (DIFF_SEED={seed}): {e}");
    }
}

#[test]
fn mariadb() {
    check_backend(Backend::Mysql);
}

#[test]
fn postgres() {
    check_backend(Backend::Postgres);
}

/// new-api's logs in ClickHouse (`tokens` in Postgres).
#[test]
fn clickhouse() {
    check(Backend::Postgres, true);
}

/// A log as written: its id and values.
struct Written {
    row: LogRow,
    late: bool,
}

async fn run_case(world: &World, case: &Case) -> Result<(), TestCaseError> {
    let env = &world.env;
    let url = env.newapi.url();
    let anchor = ANCHORS[case.anchor];
    let key = new_key();
    let token = insert_token_at(url, NewToken::enabled(1, &key, "diff", now())).await;
    let other = insert_token_at(url, NewToken::enabled(2, &new_key(), "other", now())).await;

    let mut id = *world.next_id.lock().unwrap();
    let mut written: Vec<Written> = Vec::new();
    for g in &case.logs {
        id += g.holes_before + 1;
        let mut at = anchor + g.offset;
        at -= at.rem_euclid(g.snap);
        if g.just_before && g.snap > 1 {
            at -= 1;
        }
        written.push(Written {
            row: LogRow {
                id,
                token_id: if g.other_token { other } else { token },
                created_at: at,
                kind: g.kind,
                model: MODELS[g.model].into(),
                quota: g.quota,
                prompt_tokens: g.prompt,
                completion_tokens: g.completion,
                use_time: g.use_time,
            },
            late: g.late,
        });
    }
    *world.next_id.lock().unwrap() = id + 1;
    // A late row commits after a higher id was already read: only rows below an early one.
    let last_early = written.iter().rposition(|w| !w.late);
    for (i, w) in written.iter_mut().enumerate() {
        if last_early.is_none_or(|l| i > l) {
            w.late = false;
        }
    }
    let (late, early): (Vec<&Written>, Vec<&Written>) = written.iter().partition(|w| w.late);
    let early: Vec<LogRow> = early.into_iter().map(|w| w.row.clone()).collect();
    let late: Vec<LogRow> = late.into_iter().map(|w| w.row.clone()).collect();
    if let Some(ch) = &world.ch {
        // Nothing to wait for: each answer reads ClickHouse as it is.
        write_clickhouse_logs(ch, &early).await;
        write_clickhouse_logs(ch, &late).await;
    } else {
        write_and_wait(env, &early, &late).await?;
    }
    check_queries(world, case, anchor, &key, token).await
}

/// Write the early rows, wait for the ingest, then the late ones (ids below a row already
/// read), which must show within 2 s.
async fn write_and_wait(env: &Env, early: &[LogRow], late: &[LogRow]) -> Result<(), TestCaseError> {
    let url = env.newapi.url();
    write_logs(url, early).await;
    let mut tg = env.app.db.connect().await;
    if let Some(max) = early.iter().map(|r| r.id).max() {
        wait_until(&mut tg, Duration::from_secs(20), |seen, _| seen >= max).await?;
    }
    if !late.is_empty() {
        write_logs(url, late).await;
        let ids: Vec<i64> = late.iter().map(|r| r.id).collect();
        // Out-of-order commits show within 2 s.
        wait_until(&mut tg, Duration::from_secs(2), |_, waiting: &[i64]| {
            !ids.iter().any(|i| waiting.contains(i))
        })
        .await?;
    }
    Ok(())
}

async fn check_queries(
    world: &World,
    case: &Case,
    anchor: i64,
    key: &str,
    token: i64,
) -> Result<(), TestCaseError> {
    let env = &world.env;
    let mut tg = env.app.db.connect().await;
    for q in &case.queries {
        let mut start = (anchor + q.start_offset).max(0);
        start -= start.rem_euclid(q.snap);
        let end = start + q.len;
        let zone = ZONES[q.zone];
        let model = q.model.map(|m| MODELS[m]);
        let ctx = format!("{q:?} start={start} end={end} zone={zone:?}");
        let sql = Sql {
            env,
            ch: world.ch.as_ref(),
            token,
            start,
            end,
        };
        check_detail(env, key, &sql, &mut tg, zone)
            .await
            .map_err(|e| TestCaseError::fail(format!("/detail {ctx}: {e}")))?;
        let unit = if q.hourly { "hour" } else { "day" };
        check_chart(env, key, &sql, &mut tg, zone, unit)
            .await
            .map_err(|e| TestCaseError::fail(format!("/chart {ctx}: {e}")))?;
        check_logs(env, key, &sql, zone, q.page, q.page_size, model)
            .await
            .map_err(|e| TestCaseError::fail(format!("/logs {ctx}: {e}")))?;
        check_csv(env, key, &sql, &mut tg, zone, model)
            .await
            .map_err(|e| TestCaseError::fail(format!("/logs.csv {ctx}: {e}")))?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Seen {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Gap {
    #[diesel(sql_type = BigInt)]
    log_id: i64,
}

/// Poll ingest's state until `done(max_seen_id, waiting gap ids)`, at most `limit`.
async fn wait_until(
    tg: &mut AsyncPgConnection,
    limit: Duration,
    done: impl Fn(i64, &[i64]) -> bool,
) -> Result<(), TestCaseError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let seen: Vec<Seen> = diesel::sql_query("SELECT max_seen_id AS n FROM usage_ingest_state")
            .load(tg)
            .await
            .unwrap();
        let gaps: Vec<i64> = diesel::sql_query("SELECT log_id FROM usage_ingest_gaps")
            .load::<Gap>(tg)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.log_id)
            .collect();
        if done(seen.as_slice().first().map_or(0, |s| s.n), &gaps) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(TestCaseError::fail(format!(
                "ingest did not catch up within {limit:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Raw SQL over new-api's `logs` for one token and range.
struct Sql<'a> {
    env: &'a Env,
    /// new-api's logs in ClickHouse, asked instead of new-api's database.
    ch: Option<&'a ChDb>,
    token: i64,
    start: i64,
    end: i64,
}

#[derive(QueryableByName, Debug, serde::Deserialize)]
struct ModelRow {
    #[diesel(sql_type = Text)]
    model_name: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    quota: i64,
    #[diesel(sql_type = BigInt)]
    tokens: i64,
    #[diesel(sql_type = BigInt)]
    use_time: i64,
}

#[derive(QueryableByName, Debug, serde::Deserialize)]
struct TimeRow {
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    quota: i64,
    #[diesel(sql_type = BigInt)]
    tokens: i64,
}

#[derive(QueryableByName, Debug, serde::Deserialize)]
struct RawLog {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
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

impl Sql<'_> {
    fn int(&self) -> &'static str {
        if self.ch.is_some() {
            return "Int64";
        }
        match self.env.newapi.backend() {
            Backend::Mysql => "SIGNED",
            Backend::Postgres => "BIGINT",
        }
    }

    fn filter(&self, model: Option<&str>) -> String {
        let model = model.map_or(String::new(), |m| format!(" AND model_name = '{m}'"));
        format!(
            "token_id = {} AND type = 2 AND created_at BETWEEN {} AND {}{model}",
            self.token, self.start, self.end
        )
    }

    async fn load<
        T: QueryableByName<diesel::mysql::Mysql>
            + QueryableByName<diesel::pg::Pg>
            + serde::de::DeserializeOwned
            + Send
            + 'static,
    >(
        &self,
        sql: &str,
    ) -> Vec<T> {
        if let Some(ch) = self.ch {
            let text = ch.query(&format!("{sql} FORMAT JSONEachRow")).await;
            return text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        }
        let mut conn = NewapiConn::establish(self.env.newapi.url()).await.unwrap();
        with_conn!(&mut conn, |c| diesel::sql_query(sql).load(c).await.unwrap())
    }

    /// Per model: requests, quota, tokens, use_time.
    async fn by_model(&self, model: Option<&str>) -> BTreeMap<String, [i64; 4]> {
        let int = self.int();
        let rows: Vec<ModelRow> = self
            .load(&format!(
                "SELECT model_name, CAST(COUNT(*) AS {int}) AS requests, CAST(SUM(quota) AS {int}) AS quota, \
                        CAST(SUM(prompt_tokens + completion_tokens) AS {int}) AS tokens, \
                        CAST(SUM(use_time) AS {int}) AS use_time \
                 FROM logs WHERE {} GROUP BY model_name",
                self.filter(model)
            ))
            .await;
        rows.into_iter()
            .map(|r| (r.model_name, [r.requests, r.quota, r.tokens, r.use_time]))
            .collect()
    }

    /// Per second that has consume logs: requests, quota, tokens.
    async fn by_time(&self) -> Vec<TimeRow> {
        let int = self.int();
        self.load(&format!(
            "SELECT created_at, CAST(COUNT(*) AS {int}) AS requests, CAST(SUM(quota) AS {int}) AS quota, \
                    CAST(SUM(prompt_tokens + completion_tokens) AS {int}) AS tokens \
             FROM logs WHERE {} GROUP BY created_at",
            self.filter(None)
        ))
        .await
    }

    /// One page of logs, newest first.
    async fn page(&self, model: Option<&str>, offset: i64, limit: i64) -> Vec<RawLog> {
        self.load(&format!(
            "SELECT id, created_at, model_name, quota, prompt_tokens, completion_tokens, use_time \
             FROM logs WHERE {} ORDER BY created_at DESC, {} DESC LIMIT {limit} OFFSET {offset}",
            self.filter(model),
            // ClickHouse's ids are all 0: new-api's rows there differ by request_id.
            if self.ch.is_some() {
                "request_id"
            } else {
                "id"
            }
        ))
        .await
    }
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = BigInt)]
    t: i64,
    #[diesel(sql_type = Text)]
    local: String,
    #[diesel(sql_type = BigInt)]
    off: i64,
}

/// The local unit of each instant by Postgres's tz database: `YYYY-MM-DD` for days,
/// `YYYY-MM-DDTHH|offset seconds` for hours.
async fn pg_units(
    tg: &mut AsyncPgConnection,
    zone: &str,
    hourly: bool,
    ts: &[i64],
) -> BTreeMap<i64, String> {
    let (local, named) = pg_local(zone);
    let sql = format!(
        "SELECT t, to_char({local}, 'YYYY-MM-DD\"T\"HH24') AS local, \
                CAST(EXTRACT(EPOCH FROM {local} - (to_timestamp(t) AT TIME ZONE 'UTC')) AS BIGINT) AS off \
         FROM unnest($1::bigint[]) AS t"
    );
    let rows: Vec<KeyRow> = diesel::sql_query(sql)
        .bind::<Array<BigInt>, _>(ts)
        .bind::<Text, _>(named)
        .load(tg)
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let key = if hourly {
                format!("{}|{}", r.local, r.off)
            } else {
                r.local[..10].to_owned()
            };
            (r.t, key)
        })
        .collect()
}

/// Postgres's local time of `t` in `zone` (an SQL expression; `$2` binds the name it
/// returns), by Postgres's own tz database.
fn pg_local(zone: &str) -> (String, &str) {
    let local = match fixed_offset(zone) {
        Some(secs) => {
            format!("(to_timestamp(t) AT TIME ZONE 'UTC') + make_interval(secs => {secs})")
        }
        None => "(to_timestamp(t) AT TIME ZONE $2)".to_owned(),
    };
    (local, if zone.is_empty() { "UTC" } else { zone })
}

/// `±HH:MM` → seconds (the test's own reading, not the service's).
fn fixed_offset(zone: &str) -> Option<i64> {
    let sign = match zone.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let h: i64 = zone[1..3].parse().ok()?;
    let m: i64 = zone[4..6].parse().ok()?;
    Some(sign * (h * 3_600 + m * 60))
}

/// The unit key of a point's label, the same shape as [`pg_units`]'.
fn label_key(label: &str, hourly: bool) -> String {
    if !hourly {
        return label.to_owned();
    }
    // 2026-11-01T01:00-04:00
    let off = fixed_offset(&label[16..]).unwrap_or(i64::MIN);
    format!("{}|{off}", &label[..13])
}

/// GET `path` and read the answer as usage-stats' own type for it.
async fn api<T: serde::de::DeserializeOwned>(
    env: &Env,
    key: &str,
    path: &str,
) -> Result<T, String> {
    let res = env
        .app
        .client
        .get(env.app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status() != 200 {
        return Err(format!("{path}: {}", res.status()));
    }
    let answer: Answer<T> = res.json().await.map_err(|e| format!("{path}: {e}"))?;
    ensure(answer.success, || format!("{path}: success false"))?;
    Ok(answer.data)
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn tz_param(zone: &str) -> String {
    zone.replace('+', "%2B")
}

/// Points (label, start, [requests, quota, tokens]) must be every unit the range touches, in
/// order, each with the raw rows' sums and starting at its unit's first second.
async fn check_series(
    tg: &mut AsyncPgConnection,
    sql: &Sql<'_>,
    zone: &str,
    hourly: bool,
    points: &[(String, i64, [i64; 3])],
) -> Result<(), String> {
    let mut samples: Vec<i64> = (sql.start..=sql.end).step_by(900).collect();
    samples.push(sql.end);
    let rows = sql.by_time().await;
    let mut ts: Vec<i64> = samples.clone();
    ts.extend(rows.iter().map(|r| r.created_at));
    ts.extend(points.iter().flat_map(|p| [p.1, p.1 - 1]));
    let keys = pg_units(tg, zone, hourly, &ts).await;
    let mut want_units: Vec<&String> = samples.iter().map(|t| &keys[t]).collect();
    want_units.dedup();
    let got_units: Vec<String> = points.iter().map(|p| label_key(&p.0, hourly)).collect();
    ensure(got_units.iter().eq(want_units.iter().copied()), || {
        format!("units {got_units:?} != {want_units:?}")
    })?;
    let mut want: BTreeMap<&String, [i64; 3]> = BTreeMap::new();
    for r in &rows {
        let s = want.entry(&keys[&r.created_at]).or_default();
        s[0] += r.requests;
        s[1] += r.quota;
        s[2] += r.tokens;
    }
    for (p, unit) in points.iter().zip(&got_units) {
        let expected = want.get(unit).copied().unwrap_or_default();
        ensure(p.2 == expected, || {
            format!("{}: {:?} != {expected:?}", p.0, p.2)
        })?;
        ensure(&keys[&p.1] == unit && &keys[&(p.1 - 1)] != unit, || {
            format!(
                "{} does not start at its unit's first second ({})",
                p.0, p.1
            )
        })?;
    }
    Ok(())
}

async fn check_detail(
    env: &Env,
    key: &str,
    sql: &Sql<'_>,
    tg: &mut AsyncPgConnection,
    zone: &str,
) -> Result<(), String> {
    let data: Detail = api(
        env,
        key,
        &format!(
            "/api/usage/token/detail?start={}&end={}&tz={}",
            sql.start,
            sql.end,
            tz_param(zone)
        ),
    )
    .await?;
    let models = sql.by_model(None).await;
    let sum = |i: usize| models.values().map(|v| v[i]).sum::<i64>();
    let (requests, quota, tokens, use_time) = (sum(0), sum(1), sum(2), sum(3));
    let summary = &data.summary;
    let latency = if requests == 0 {
        0
    } else {
        (use_time * 1000 + requests / 2) / requests
    };
    ensure(
        (
            summary.total_requests,
            summary.total_quota,
            summary.total_tokens,
            summary.avg_latency_ms,
        ) == (requests, quota, tokens, latency),
        || format!("summary {summary:?} != {requests} {quota} {tokens} {latency}"),
    )?;
    let usd = summary.total_quota_usd;
    ensure((usd - quota as f64 / 500_000.0).abs() < 1e-6, || {
        format!("usd {usd} for quota {quota}")
    })?;
    let want_tz = if zone.is_empty() { "UTC" } else { zone };
    ensure(data.range.tz == want_tz, || format!("tz {:?}", data.range))?;
    let got: Vec<(String, [i64; 3])> = data
        .by_model
        .iter()
        .map(|m| (m.model_name.clone(), [m.requests, m.quota, m.tokens]))
        .collect();
    let mut want: Vec<(String, [i64; 3])> = models
        .iter()
        .map(|(m, v)| (m.clone(), [v[0], v[1], v[2]]))
        .collect();
    want.sort_by(|a, b| b.1[1].cmp(&a.1[1]).then_with(|| a.0.cmp(&b.0)));
    ensure(got == want, || format!("by_model {got:?} != {want:?}"))?;
    let days: Vec<(String, i64, [i64; 3])> = data
        .by_day
        .iter()
        .map(|d| (d.date.clone(), d.start, [d.requests, d.quota, d.tokens]))
        .collect();
    check_series(tg, sql, zone, false, &days).await?;
    let recent: Vec<i64> = data.recent_logs.iter().map(|l| l.id).collect();
    let want_recent: Vec<i64> = sql.page(None, 0, 20).await.iter().map(|l| l.id).collect();
    ensure(recent == want_recent, || {
        format!("recent_logs {recent:?} != {want_recent:?}")
    })
}

async fn check_chart(
    env: &Env,
    key: &str,
    sql: &Sql<'_>,
    tg: &mut AsyncPgConnection,
    zone: &str,
    unit: &str,
) -> Result<(), String> {
    let chart: Chart = api(
        env,
        key,
        &format!(
            "/api/usage/token/chart?start={}&end={}&tz={}&granularity={unit}",
            sql.start,
            sql.end,
            tz_param(zone)
        ),
    )
    .await?;
    let hourly = unit == "hour";
    let want = if hourly {
        Granularity::Hour
    } else {
        Granularity::Day
    };
    ensure(chart.granularity == want, || {
        format!("granularity {:?}", chart.granularity)
    })?;
    let points: Vec<(String, i64, [i64; 3])> = chart
        .points
        .iter()
        .map(|p| (p.label.clone(), p.start, [p.requests, p.quota, p.tokens]))
        .collect();
    check_series(tg, sql, zone, hourly, &points).await
}

async fn check_logs(
    env: &Env,
    key: &str,
    sql: &Sql<'_>,
    zone: &str,
    page: i64,
    page_size: i64,
    model: Option<&str>,
) -> Result<(), String> {
    let model_param = model.map_or(String::new(), |m| format!("&model={m}"));
    let data: LogsPage = api(
        env,
        key,
        &format!(
            "/api/usage/token/logs?start={}&end={}&tz={}&page={page}&page_size={page_size}{model_param}",
            sql.start,
            sql.end,
            tz_param(zone)
        ),
    )
    .await?;
    let total: i64 = sql.by_model(model).await.values().map(|v| v[0]).sum();
    ensure(data.total == total, || {
        format!("total {} != {total}", data.total)
    })?;
    ensure(data.page == page && data.page_size == page_size, || {
        "page echo".into()
    })?;
    let want = sql.page(model, (page - 1) * page_size, page_size).await;
    ensure(data.items.len() == want.len(), || {
        format!("{} items != {}", data.items.len(), want.len())
    })?;
    for (got, w) in data.items.iter().zip(&want) {
        ensure(
            got.id == w.id
                && got.created_at == w.created_at
                && got.model_name == w.model_name
                && got.quota == w.quota
                && got.prompt_tokens == w.prompt_tokens
                && got.completion_tokens == w.completion_tokens
                && got.tokens == w.prompt_tokens + w.completion_tokens
                && got.use_time == w.use_time,
            || format!("item {got:?} != {w:?}"),
        )?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct LocalTime {
    #[diesel(sql_type = BigInt)]
    t: i64,
    #[diesel(sql_type = Text)]
    local: String,
    #[diesel(sql_type = BigInt)]
    off: i64,
}

/// `created_at` of each instant as the export must write it, by Postgres's tz database.
async fn pg_iso(tg: &mut AsyncPgConnection, zone: &str, ts: &[i64]) -> BTreeMap<i64, String> {
    let (local, named) = pg_local(zone);
    let rows: Vec<LocalTime> = diesel::sql_query(format!(
        "SELECT t, to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS local, \
                CAST(EXTRACT(EPOCH FROM {local} - (to_timestamp(t) AT TIME ZONE 'UTC')) AS BIGINT) AS off \
         FROM unnest($1::bigint[]) AS t"
    ))
    .bind::<Array<BigInt>, _>(ts)
    .bind::<Text, _>(named)
    .load(tg)
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| {
            let sign = if r.off < 0 { '-' } else { '+' };
            let m = r.off.abs() / 60;
            (r.t, format!("{}{sign}{:02}:{:02}", r.local, m / 60, m % 60))
        })
        .collect()
}

async fn check_csv(
    env: &Env,
    key: &str,
    sql: &Sql<'_>,
    tg: &mut AsyncPgConnection,
    zone: &str,
    model: Option<&str>,
) -> Result<(), String> {
    let model_param = model.map_or(String::new(), |m| format!("&model={m}"));
    let path = format!(
        "/api/usage/token/logs.csv?start={}&end={}&tz={}{model_param}",
        sql.start,
        sql.end,
        tz_param(zone)
    );
    let res = env
        .app
        .client
        .get(env.app.url(&path))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure(res.status() == 200, || format!("{}", res.status()))?;
    ensure(
        res.headers()["content-type"] == "text/csv; charset=utf-8",
        || "content type".into(),
    )?;
    let text = res.text().await.map_err(|e| e.to_string())?;
    let mut lines = text.split("\r\n");
    ensure(
        lines.next()
            == Some(
                "created_at,model_name,prompt_tokens,completion_tokens,quota,cost_usd,use_time_s",
            ),
        || "header".into(),
    )?;
    let got: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let want = sql.page(model, 0, 1_000_000).await;
    let ts: Vec<i64> = want.iter().map(|w| w.created_at).collect();
    let iso = pg_iso(tg, zone, &ts).await;
    let want: Vec<String> = want
        .iter()
        .map(|w| {
            let micros = w.quota * 2; // QUOTA_PER_UNIT 500 000: 2 micro-dollars per unit
            format!(
                "{},{},{},{},{},{}.{:06},{}",
                iso[&w.created_at],
                w.model_name,
                w.prompt_tokens,
                w.completion_tokens,
                w.quota,
                micros / 1_000_000,
                micros % 1_000_000,
                w.use_time
            )
        })
        .collect();
    ensure(got == want, || format!("rows {got:?} != {want:?}"))
}
