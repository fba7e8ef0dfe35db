//! Ingest is exact and exactly-once: rollups equal raw aggregates, rows committed out of id
//! order are neither lost nor double counted, rolled-back ids are given up, and concurrent
//! ingesters take turns.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use support::{every_other_id, waiting_gaps, write_logs, LogRow};
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{with_conn, Backend, NewapiConn, NewapiPool};
use tollgate_testkit::{newapi_db, TestDb};
use usage_stats::ingest::{GapPolicy, Ingester, Pass};

struct Setup {
    tollgate: TestDb,
    newapi: ScratchDb,
    ingester: Ingester,
}

async fn setup(backend: Backend, grace: Duration) -> Setup {
    setup_with(
        backend,
        100,
        GapPolicy {
            grace,
            max_waiting: 20_000,
        },
    )
    .await
}

async fn setup_with(backend: Backend, batch: i64, gaps: GapPolicy) -> Setup {
    let tollgate = TestDb::new().await;
    let newapi = newapi_db(backend).await;
    let ingester = Ingester {
        tollgate: tollgate_db::connect_pool(tollgate.url(), 4, Duration::from_secs(5)),
        logs: NewapiPool::new(newapi.url(), 4, Duration::from_secs(5)).unwrap(),
        batch,
        gaps,
    };
    Setup {
        tollgate,
        newapi,
        ingester,
    }
}

/// (token_id, created_at, type, model, quota, prompt, completion, use_time)
type Log = (i64, i64, i64, &'static str, i64, i64, i64, i64);

fn insert_sql(l: &Log) -> String {
    format!(
        "INSERT INTO logs (user_id, created_at, type, model_name, quota, prompt_tokens, completion_tokens, use_time, token_id) \
         VALUES (1, {}, {}, '{}', {}, {}, {}, {}, {})",
        l.1, l.2, l.3, l.4, l.5, l.6, l.7, l.0
    )
}

async fn insert(conn: &mut NewapiConn, logs: &[Log]) {
    for l in logs {
        let sql = insert_sql(l);
        with_conn!(conn, |c| c.batch_execute(&sql).await.unwrap());
    }
}

async fn drain(ingester: &Ingester) -> Vec<Pass> {
    let mut passes = Vec::new();
    loop {
        let pass = ingester.pass().await.unwrap();
        let done = (pass.read as i64) < ingester.batch;
        passes.push(pass);
        if done {
            return passes;
        }
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Bucket {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    token_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bucket: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    model_name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    quota: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    completion_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    use_time: i64,
}

async fn rollup(s: &Setup, table: &str) -> Vec<Bucket> {
    let mut conn = s.tollgate.connect().await;
    let mut rows: Vec<Bucket> = diesel::sql_query(format!(
        "SELECT token_id, bucket, model_name, requests, quota, prompt_tokens, completion_tokens, use_time FROM {table}"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    rows.sort();
    rows
}

/// The same figures straight from new-api's raw logs, as SQL aggregates.
async fn raw(s: &Setup, size: i64) -> Vec<Bucket> {
    let mut conn = NewapiConn::establish(s.newapi.url()).await.unwrap();
    let sql = format!(
        "SELECT token_id, (created_at - MOD(created_at, {size})) AS bucket, model_name, \
                CAST(COUNT(*) AS SIGNED) AS requests, CAST(SUM(quota) AS SIGNED) AS quota, \
                CAST(SUM(prompt_tokens) AS SIGNED) AS prompt_tokens, \
                CAST(SUM(completion_tokens) AS SIGNED) AS completion_tokens, \
                CAST(SUM(use_time) AS SIGNED) AS use_time \
         FROM logs WHERE type = 2 GROUP BY token_id, (created_at - MOD(created_at, {size})), model_name"
    );
    let sql = match s.newapi.backend() {
        Backend::Mysql => sql,
        Backend::Postgres => sql.replace("SIGNED", "BIGINT"),
    };
    let mut rows: Vec<Bucket> = with_conn!(&mut conn, |c| diesel::sql_query(&sql)
        .load(c)
        .await
        .unwrap());
    rows.sort();
    rows
}

async fn assert_rollups_equal_raw(s: &Setup) {
    for (table, size) in [
        ("usage_quarter", 900),
        ("usage_hour", 3600),
        ("usage_day", 86_400),
    ] {
        assert_eq!(rollup(s, table).await, raw(s, size).await, "{table}");
    }
}

fn generated(n: usize) -> Vec<Log> {
    const MODELS: [&str; 4] = [
        "gpt-4o",
        "gpt-4o-mini",
        "claude-3-5-sonnet",
        "deepseek-chat",
    ];
    let base = 1_763_769_600; // a UTC midnight
    (0..n)
        .map(|i| {
            let i = i as i64;
            let kind = if i % 7 == 3 { 1 + (i % 6) } else { 2 };
            // Spread over three days, hitting bucket edges on purpose.
            let at = base + (i * 7_919) % (3 * 86_400)
                - if i % 11 == 0 { (i * 900) % 86_400 } else { 0 };
            (
                1 + i % 5,
                at,
                kind,
                MODELS[(i % 4) as usize],
                100 + i * 13 % 977,
                i % 300,
                i % 200,
                i % 9,
            )
        })
        .collect()
}

async fn rollups_equal_raw_aggregates(backend: Backend) {
    let s = setup(backend, Duration::from_secs(600)).await;
    let mut conn = NewapiConn::establish(s.newapi.url()).await.unwrap();
    insert(&mut conn, &generated(450)).await;
    let passes = drain(&s.ingester).await;
    assert_eq!(passes.iter().map(|p| p.read).sum::<usize>(), 450);
    assert_rollups_equal_raw(&s).await;
    // More logs later, then nothing new: still equal, nothing counted twice.
    insert(&mut conn, &generated(120)).await;
    drain(&s.ingester).await;
    drain(&s.ingester).await;
    assert_rollups_equal_raw(&s).await;
    let mut tg = s.tollgate.connect().await;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let indexed: N = diesel::sql_query("SELECT count(*) AS n FROM usage_log_index")
        .get_result(&mut tg)
        .await
        .unwrap();
    let consume = generated(450)
        .iter()
        .chain(generated(120).iter())
        .filter(|l| l.2 == 2)
        .count();
    assert_eq!(indexed.n as usize, consume);
}

async fn rows_committed_out_of_id_order_are_counted_once(backend: Backend) {
    let s = setup(backend, Duration::from_secs(600)).await;
    let mut slow = NewapiConn::establish(s.newapi.url()).await.unwrap();
    let mut fast = NewapiConn::establish(s.newapi.url()).await.unwrap();
    let early: Log = (1, 1_763_780_000, 2, "gpt-4o", 1000, 10, 20, 1);
    let late: Log = (1, 1_763_780_005, 2, "gpt-4o", 7, 1, 2, 1);
    // The slow transaction takes the lower id but commits last.
    with_conn!(&mut slow, |c| c.batch_execute("BEGIN").await.unwrap());
    insert(&mut slow, &[early]).await;
    insert(&mut fast, &[late]).await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!(
        (pass.read, pass.consumed, pass.gaps_opened),
        (1, 1, 1),
        "{pass:?}"
    );
    with_conn!(&mut slow, |c| c.batch_execute("COMMIT").await.unwrap());
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!(
        (pass.read, pass.gaps_filled, pass.consumed),
        (0, 1, 1),
        "{pass:?}"
    );
    assert_rollups_equal_raw(&s).await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!(pass.consumed, 0);
    assert_rollups_equal_raw(&s).await;
    let q = rollup(&s, "usage_quarter").await;
    assert_eq!((q[0].requests, q[0].quota), (2, 1007));
}

async fn rolled_back_ids_are_given_up_after_the_grace(backend: Backend) {
    let s = setup(backend, Duration::ZERO).await;
    let mut a = NewapiConn::establish(s.newapi.url()).await.unwrap();
    with_conn!(&mut a, |c| c.batch_execute("BEGIN").await.unwrap());
    insert(&mut a, &[(1, 1_763_780_000, 2, "m", 5, 1, 1, 1)]).await;
    with_conn!(&mut a, |c| c.batch_execute("ROLLBACK").await.unwrap());
    insert(&mut a, &[(1, 1_763_780_001, 2, "m", 3, 1, 1, 1)]).await;
    let first = s.ingester.pass().await.unwrap();
    assert_eq!(first.gaps_opened, 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = s.ingester.pass().await.unwrap();
    assert_eq!(second.gaps_expired, 1);
    assert_rollups_equal_raw(&s).await;
}

#[derive(QueryableByName, Debug, PartialEq)]
struct TokenVersion {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    token_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    version: i64,
}

async fn versions(s: &Setup) -> Vec<(i64, i64)> {
    let mut tg = s.tollgate.connect().await;
    diesel::sql_query("SELECT token_id, version FROM usage_token_version ORDER BY token_id")
        .load::<TokenVersion>(&mut tg)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.token_id, v.version))
        .collect()
}

async fn a_pass_bumps_the_version_of_exactly_the_tokens_it_added_to(backend: Backend) {
    let s = setup(backend, Duration::from_secs(600)).await;
    let mut conn = NewapiConn::establish(s.newapi.url()).await.unwrap();
    // Token 3 only has a non-consume log: nothing of it is added, so no version.
    insert(
        &mut conn,
        &[
            (1, 1_763_780_000, 2, "m", 5, 1, 1, 1),
            (1, 1_763_780_001, 2, "m", 5, 1, 1, 1),
            (2, 1_763_780_002, 2, "m", 5, 1, 1, 1),
            (3, 1_763_780_003, 1, "", 0, 0, 0, 0),
        ],
    )
    .await;
    drain(&s.ingester).await;
    assert_eq!(versions(&s).await, vec![(1, 1), (2, 1)]);
    insert(&mut conn, &[(2, 1_763_780_004, 2, "m", 5, 1, 1, 1)]).await;
    drain(&s.ingester).await;
    assert_eq!(versions(&s).await, vec![(1, 1), (2, 2)]);
    // A pass that reads nothing changes nothing.
    drain(&s.ingester).await;
    assert_eq!(versions(&s).await, vec![(1, 1), (2, 2)]);
}

async fn concurrent_ingesters_take_turns(backend: Backend) {
    let s = setup(backend, Duration::from_secs(600)).await;
    let mut conn = NewapiConn::establish(s.newapi.url()).await.unwrap();
    insert(&mut conn, &generated(600)).await;
    let other = s.ingester.clone();
    let (a, b) = tokio::join!(drain(&s.ingester), drain(&other));
    let read: usize = a.iter().chain(b.iter()).map(|p| p.read).sum();
    assert_eq!(read, 600);
    assert_rollups_equal_raw(&s).await;
    let by_model: BTreeMap<String, i64> =
        rollup(&s, "usage_day")
            .await
            .into_iter()
            .fold(BTreeMap::new(), |mut m, b| {
                *m.entry(b.model_name).or_default() += b.requests;
                m
            });
    assert_eq!(
        by_model.values().sum::<i64>() as usize,
        generated(600).iter().filter(|l| l.2 == 2).count()
    );
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Regression: waiting gaps used to be re-read 10 000 per pass, lowest id first, so a late
/// commit behind more than 10 000 live holes stayed unseen until the grace ran out.
async fn a_late_commit_is_found_behind_many_live_holes(backend: Backend) {
    let policy = GapPolicy {
        grace: Duration::from_secs(600),
        max_waiting: 20_000,
    };
    let s = setup_with(backend, 5_000, policy).await;
    let now = unix_now();
    // ids 1, 3, …, 30 001: 15 000 holes, all recent, so all waited for.
    write_logs(s.newapi.url(), &every_other_id(1, 15_001, 1, now)).await;
    drain(&s.ingester).await;
    let mut tg = s.tollgate.connect().await;
    assert_eq!(waiting_gaps(&mut tg).await, 15_000);
    // The newest hole and the oldest one commit now.
    write_logs(
        s.newapi.url(),
        &[
            LogRow::consume(30_000, 1, now, "late", 7_777),
            LogRow::consume(2, 1, now, "late", 1),
        ],
    )
    .await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!((pass.gaps_filled, pass.consumed), (2, 2), "{pass:?}");
    assert_eq!(pass.gaps_waiting, 14_998);
    assert_rollups_equal_raw(&s).await;
}

/// A first backfill over a table with 100 000 old holes waits for none of them, yet still
/// waits for (and finds) the holes next to new-api's newest logs.
async fn a_backfill_over_100k_old_holes_waits_only_for_recent_ones(backend: Backend) {
    let policy = GapPolicy {
        grace: Duration::from_secs(600),
        max_waiting: 20_000,
    };
    let s = setup_with(backend, 5_000, policy).await;
    let now = unix_now();
    let mut rows = every_other_id(1, 100_001, 1, now - 30 * 86_400); // ids 1..=200 001
                                                                     // The newest logs, with a hole below each: inserts still open.
    rows.push(LogRow::consume(200_003, 2, now - 5, "gpt-4o", 11));
    rows.push(LogRow::consume(200_005, 2, now, "gpt-4o", 13));
    write_logs(s.newapi.url(), &rows).await;
    let passes = drain(&s.ingester).await;
    let skipped: usize = passes.iter().map(|p| p.gaps_skipped).sum();
    let mut tg = s.tollgate.connect().await;
    let waiting = waiting_gaps(&mut tg).await;
    eprintln!("backfill over {skipped} old holes: {waiting} gaps waiting");
    assert_eq!(skipped, 100_000);
    assert_eq!(waiting, 2);
    write_logs(
        s.newapi.url(),
        &[LogRow::consume(200_004, 2, now - 1, "late", 4_242)],
    )
    .await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!((pass.gaps_filled, pass.gaps_waiting), (1, 1), "{pass:?}");
    assert_rollups_equal_raw(&s).await;
}

/// A gap is given up once new-api's newest log is more than the grace newer than the log
/// above the gap (new-api's clock, whatever ours says), and never before.
async fn a_gap_is_given_up_by_new_apis_clock(backend: Backend) {
    let s = setup(backend, Duration::from_secs(60)).await;
    let t = 1_763_780_000; // long ago by our clock: only new-api's times count
    let url = s.newapi.url().to_owned();
    write_logs(&url, &[LogRow::consume(2, 1, t, "m", 5)]).await;
    assert_eq!(s.ingester.pass().await.unwrap().gaps_opened, 1);
    write_logs(&url, &[LogRow::consume(3, 1, t + 60, "m", 5)]).await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!((pass.gaps_expired, pass.gaps_waiting), (0, 1), "{pass:?}");
    write_logs(&url, &[LogRow::consume(4, 1, t + 61, "m", 5)]).await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!((pass.gaps_expired, pass.gaps_waiting), (1, 0), "{pass:?}");
    // Had it committed after all, it would not be counted: given up is given up.
    write_logs(&url, &[LogRow::consume(1, 1, t, "m", 5)]).await;
    assert_eq!(s.ingester.pass().await.unwrap().consumed, 0);
}

/// Beyond `INGEST_MAX_GAPS` the lowest ids are given up first.
async fn the_wait_list_is_capped_keeping_the_newest(backend: Backend) {
    let policy = GapPolicy {
        grace: Duration::from_secs(600),
        max_waiting: 10,
    };
    let s = setup_with(backend, 100, policy).await;
    let now = unix_now();
    write_logs(s.newapi.url(), &every_other_id(1, 21, 1, now)).await; // 20 holes
    let first = s.ingester.pass().await.unwrap();
    assert_eq!(first.gaps_opened, 20);
    let second = s.ingester.pass().await.unwrap();
    assert_eq!((second.gaps_expired, second.gaps_waiting), (10, 10));
    // The newest hole is still waited for; the lowest is not.
    write_logs(
        s.newapi.url(),
        &[
            LogRow::consume(40, 1, now, "m", 1),
            LogRow::consume(2, 1, now, "m", 1),
        ],
    )
    .await;
    let pass = s.ingester.pass().await.unwrap();
    assert_eq!((pass.gaps_filled, pass.consumed), (1, 1), "{pass:?}");
}

on_both_backends!(
    a_late_commit_is_found_behind_many_live_holes,
    a_backfill_over_100k_old_holes_waits_only_for_recent_ones,
    a_gap_is_given_up_by_new_apis_clock,
    the_wait_list_is_capped_keeping_the_newest,
    rollups_equal_raw_aggregates,
    rows_committed_out_of_id_order_are_counted_once,
    rolled_back_ids_are_given_up_after_the_grace,
    concurrent_ingesters_take_turns,
    a_pass_bumps_the_version_of_exactly_the_tokens_it_added_to,
);
