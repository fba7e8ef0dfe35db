//! A log committed out of id order shows in `/detail`, `/chart` and `/logs` within 2 s, on a
//! `logs` table with 100 000 id holes that the service's first backfill read.

use crate::support;

use std::time::Duration;

use support::*;
use tollgate_newapi_schema::{Backend, NewToken};
use tollgate_testkit::{newapi_db, TestApp};
use usage_stats::query::views::{Chart, Detail, LogsPage};

async fn a_late_commit_behind_100k_holes_shows_within_two_seconds(backend: Backend) {
    let newapi = newapi_db(backend).await;
    let url = newapi.url().to_owned();
    let now = now();
    // The table as the service first sees it: 100 000 old holes, then recent logs of the
    // tested key with one id still missing (an insert not committed yet).
    let mut rows = every_other_id(1, 100_001, 999, now - 40 * 86_400);
    let key = new_key();
    let token = insert_token_at(&url, NewToken::enabled(7, &key, "late", now)).await;
    rows.push(LogRow::consume(200_003, token, now - 60, "gpt-4o", 1_000));
    rows.push(LogRow::consume(200_005, token, now - 30, "gpt-4o", 2_000));
    write_logs(&url, &rows).await;
    let app = TestApp::spawn(|db| {
        let url = url.clone();
        async move {
            let mut s = settings(&db, &url, 100);
            s.usage.ingest_batch = 5_000;
            usage_stats::startup::build(s).await
        }
    })
    .await
    .unwrap();
    let env = Env { app, newapi };
    let (start, end) = (now - 3_600, now + 3_600);
    let detail = format!("/api/usage/token/detail?start={start}&end={end}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body: Detail = data_of(&env.app, &key, &detail).await;
        if body.summary.total_requests == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "backfill too slow");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the backfill finish, then look at what it left waiting.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut conn = env.app.db.connect().await;
    loop {
        let waiting = waiting_gaps(&mut conn).await;
        if waiting <= 2 {
            eprintln!("gap table after the backfill over 100 000 holes: {waiting} rows");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{waiting} gaps waiting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The missing insert commits now.
    write_logs(
        &url,
        &[LogRow::consume(
            200_004,
            token,
            now - 45,
            "late-model",
            4_242,
        )],
    )
    .await;
    let committed = tokio::time::Instant::now();
    let chart = format!("/api/usage/token/chart?start={start}&end={end}&granularity=hour");
    let logs = format!("/api/usage/token/logs?start={start}&end={end}&model=late-model");
    loop {
        let d: Detail = data_of(&env.app, &key, &detail).await;
        let c: Chart = data_of(&env.app, &key, &chart).await;
        let l: LogsPage = data_of(&env.app, &key, &logs).await;
        let charted: i64 = c.points.iter().map(|p| p.quota).sum();
        if d.summary.total_quota == 7_242
            && charted == 7_242
            && l.total == 1
            && l.items[0].id == 200_004
        {
            break;
        }
        assert!(
            committed.elapsed() < Duration::from_secs(2),
            "not visible within 2 s: {d:?} {c:?} {l:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends!(a_late_commit_behind_100k_holes_shows_within_two_seconds);
