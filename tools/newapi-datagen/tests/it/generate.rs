//! `generate` against real Postgres and MariaDB scratch databases.

use crate::common;

use std::collections::{BTreeMap, HashSet};

use common::*;
use newapi_datagen::{
    generate, insert_logs, insert_logs_bound, token_key, IndexMode, InsertMethod, Spec, KEY_LEN,
};
use tollgate_newapi_schema::{log_type, Backend, NewLog, LOG_INDEXES};

fn spec() -> Spec {
    Spec {
        rows: 20_000,
        tokens: 50,
        heavy_token_rows: 3_000,
        end: Some(END),
        days: 30,
        seed: 7,
        boundary: true,
        ..Spec::default()
    }
}

async fn exact_counts(backend: Backend) {
    let (db, mut conn) = fresh(backend, "datagen_counts").await;
    let spec = spec();
    let report = generate(db.url(), &spec).await.unwrap();
    let start = END - 30 * 86_400;
    assert_eq!((report.start, report.end), (start, END));
    assert_eq!(report.rows, 20_002);
    assert_eq!(report.tokens, 50);
    assert_eq!(report.heavy_rows, 3_002);
    assert!(!report.indexes_deferred);

    let logs = all_logs(&mut conn).await;
    assert_eq!(logs.len(), 20_002);
    assert_eq!(count_logs(&mut conn).await, 20_002);
    let heavy: Vec<_> = logs
        .iter()
        .filter(|l| l.token_id == report.heavy_token_id)
        .collect();
    assert_eq!(heavy.len(), 3_002, "heavy token rows");

    // Every created_at within [start, end]; the boundary rows sit exactly on both ends.
    assert!(logs
        .iter()
        .all(|l| l.created_at >= start && l.created_at <= END));
    for at in [start, END] {
        assert!(
            heavy
                .iter()
                .any(|l| l.created_at == at && l.log_type == log_type::CONSUME),
            "{backend:?}: no heavy consume log at {at}"
        );
    }

    // Per-type counts: exactly the report's; the consume share close to 0.9.
    let mut types: BTreeMap<i64, u64> = BTreeMap::new();
    for l in &logs {
        *types.entry(l.log_type).or_default() += 1;
    }
    assert_eq!(types, report.type_counts);
    let consume = types[&log_type::CONSUME] as f64 / 20_002.0;
    assert!((consume - 0.9).abs() < 0.01, "consume share {consume}");
    for t in [1, 3, 4, 5, 6] {
        assert!(
            types.get(&t).copied().unwrap_or(0) > 0,
            "no logs of type {t}"
        );
    }

    // The heavy token's consume figures match the report.
    let hc: Vec<_> = heavy
        .iter()
        .filter(|l| l.log_type == log_type::CONSUME)
        .collect();
    assert_eq!(hc.len() as u64, report.heavy_consume_rows);
    assert_eq!(
        hc.iter().map(|l| l.quota).sum::<i64>(),
        report.heavy_consume_quota
    );
    assert_eq!(
        hc.iter()
            .map(|l| l.prompt_tokens + l.completion_tokens)
            .sum::<i64>(),
        report.heavy_consume_tokens
    );

    // Consume logs look like new-api's.
    for l in logs.iter().filter(|l| l.log_type == log_type::CONSUME) {
        assert!(l.quota >= 1 && l.prompt_tokens > 0 && l.completion_tokens > 0);
        assert!(!l.model_name.is_empty() && l.other == "{}");
        assert!((1..=120).contains(&l.use_time));
        assert!(l.request_id.len() == 22 && l.group == "default");
    }

    // Tokens: usable keys, unique, enabled, never expiring, unlimited; used_quota adds up.
    let tokens = all_tokens(&mut conn).await;
    assert_eq!(tokens.len(), 50);
    let keys: HashSet<&str> = tokens.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys.len(), 50);
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(t.key.len(), KEY_LEN);
        assert!(t.key.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(t.key, token_key(7, i as u32));
        assert_eq!(t.id, report.token_ids[i]);
        assert_eq!((t.status, t.expired_time), (1, -1));
        assert!(t.unlimited_quota && t.deleted_at.is_none());
        let used: i64 = logs
            .iter()
            .filter(|l| l.token_id == t.id && l.log_type == log_type::CONSUME)
            .map(|l| l.quota)
            .sum();
        assert_eq!(t.used_quota, used, "used_quota of token {i}");
        assert!(logs
            .iter()
            .filter(|l| l.token_id == t.id)
            .all(|l| l.user_id == t.user_id && l.token_name == t.name));
    }
    assert_eq!(tokens[0].id, report.heavy_token_id);
    assert_eq!(tokens[0].key, report.heavy_token_key);
    assert_eq!(tokens[0].name, "heavy");

    // The skew: the heavy token is followed by a few big ones and a long tail.
    let per = per_token(&mut conn).await;
    assert_eq!(per.len(), 50);
    assert!(per[1].n > 4 * per[49].n, "{:?} vs {:?}", per[1], per[49]);
}

#[tokio::test]
async fn exact_counts_postgres() {
    exact_counts(Backend::Postgres).await;
}

#[tokio::test]
async fn exact_counts_mysql() {
    exact_counts(Backend::Mysql).await;
}

/// Same seed → the same tokens and the same multiset of rows, whatever batch, parallelism,
/// insert method or backend; another seed → other data.
#[tokio::test]
async fn deterministic_across_batches_methods_and_backends() {
    let small = |batch, parallel, method| Spec {
        rows: 6_000,
        tokens: 20,
        heavy_token_rows: 1_000,
        boundary: true,
        diurnal: true,
        batch,
        parallel,
        method,
        ..spec()
    };
    let runs = [
        (Backend::Postgres, small(2000, 2, InsertMethod::Fastest)),
        (Backend::Postgres, small(333, 3, InsertMethod::Literals)),
        (Backend::Postgres, small(5000, 1, InsertMethod::Binds)),
        (Backend::Mysql, small(2000, 2, InsertMethod::Fastest)),
        (Backend::Mysql, small(777, 1, InsertMethod::Binds)),
    ];
    let mut first: Option<(Vec<Row>, Vec<PerToken>, Vec<String>)> = None;
    for (backend, spec) in runs {
        let (db, mut conn) = fresh(backend, "datagen_det").await;
        let report = generate(db.url(), &spec).await.unwrap();
        assert_eq!(report.rows, 6_002);
        let rows = sorted_rows(&mut conn).await;
        let per = per_token(&mut conn).await;
        let keys: Vec<String> = all_tokens(&mut conn)
            .await
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(per.len(), 20);
        match &first {
            None => first = Some((rows, per, keys)),
            Some((r0, p0, k0)) => {
                assert_eq!(&keys, k0, "{backend:?} {spec:?}");
                assert_eq!(&per, p0, "{backend:?} {spec:?}");
                assert!(&rows == r0, "{backend:?} {spec:?}: rows differ");
            }
        }
    }

    let (db, mut conn) = fresh(Backend::Postgres, "datagen_det").await;
    generate(
        db.url(),
        &Spec {
            seed: 8,
            ..small(2000, 2, InsertMethod::Fastest)
        },
    )
    .await
    .unwrap();
    let (r0, p0, _) = first.unwrap();
    assert!(sorted_rows(&mut conn).await != r0);
    assert_ne!(per_token(&mut conn).await, p0);
}

fn odd_log(token_id: i64, request_id: &str, created_at: i64) -> NewLog {
    NewLog {
        user_id: 1,
        created_at,
        log_type: log_type::CONSUME,
        content: "it's a \\ test ☃ é \n\t\"quoted\" 'single' %_ ; -- /* */ \\' \\\\".into(),
        username: "O'Brien".into(),
        token_name: "heavy".into(),
        model_name: "模型-x".into(),
        quota: 123_456_789_012,
        prompt_tokens: 10,
        completion_tokens: 0,
        use_time: 0,
        is_stream: true,
        channel_id: 3,
        token_id,
        group: "vip".into(),
        ip: "::1".into(),
        request_id: request_id.into(),
        other: r#"{"a":"\u0000x\\y"}"#.into(),
    }
}

/// `extra` rows and `insert_logs` / `insert_logs_bound` store rows exactly, odd strings
/// included.
async fn extra_rows_exact(backend: Backend) {
    let (db, mut conn) = fresh(backend, "datagen_extra").await;
    let extra = vec![odd_log(1, "extra-1", END - 5), odd_log(1, "extra-2", END)];
    let report = generate(
        db.url(),
        &Spec {
            rows: 0,
            heavy_token_rows: 0,
            tokens: 3,
            extra: extra.clone(),
            ..spec()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.rows, 4, "2 boundary + 2 extra");
    let heavy = report.heavy_token_id;
    let mine: Vec<NewLog> = (0..5)
        .map(|i| odd_log(heavy, &format!("lit-{i}"), END - i))
        .collect();
    assert_eq!(insert_logs(&mut conn, &mine).await.unwrap(), 5);
    let bound: Vec<NewLog> = (0..3)
        .map(|i| odd_log(heavy, &format!("bound-{i}"), END - i))
        .collect();
    assert_eq!(insert_logs_bound(&mut conn, &bound).await.unwrap(), 3);
    assert_eq!(insert_logs(&mut conn, &[]).await.unwrap(), 0);

    let logs = all_logs(&mut conn).await;
    assert_eq!(logs.len(), 12);
    for want in extra.iter().chain(&mine).chain(&bound) {
        let got = logs
            .iter()
            .find(|l| l.request_id == want.request_id)
            .expect("row missing");
        let got = without_id(got.clone());
        let want = new_row(want);
        assert_eq!(got, want, "{backend:?}");
    }
}

#[tokio::test]
async fn extra_rows_exact_postgres() {
    extra_rows_exact(Backend::Postgres).await;
}

#[tokio::test]
async fn extra_rows_exact_mysql() {
    extra_rows_exact(Backend::Mysql).await;
}

/// Deferred indexes come back — all of new-api's, even one missing before the load — and
/// `token_status` overrides apply; a rerun without truncate fails on the keys, with
/// truncate it starts over.
async fn indexes_status_and_truncate(backend: Backend) {
    let db = tollgate_newapi_schema::scratch::ScratchDb::create(backend, "datagen_idx")
        .await
        .unwrap();
    let spec = Spec {
        rows: 5_000,
        heavy_token_rows: 500,
        tokens: 10,
        create_tables: true,
        indexes: IndexMode::Defer,
        token_status: vec![(3, 2), (4, 3)],
        ..spec()
    };
    let report = generate(db.url(), &spec).await.unwrap();
    assert!(report.indexes_deferred);
    let mut conn = tollgate_newapi_schema::NewapiConn::establish(db.url())
        .await
        .unwrap();
    let names = log_index_names(&mut conn).await;
    for want in LOG_INDEXES {
        assert!(
            names.iter().any(|n| n == want),
            "{backend:?}: {want} missing"
        );
    }
    let statuses: Vec<i64> = all_tokens(&mut conn)
        .await
        .iter()
        .map(|t| t.status)
        .collect();
    assert_eq!(statuses, vec![1, 1, 1, 2, 3, 1, 1, 1, 1, 1]);

    // Lose an index (an interrupted load, say): the next deferred load restores it.
    let drop = match backend {
        Backend::Postgres => r#"DROP INDEX "idx_logs_ip""#,
        Backend::Mysql => "ALTER TABLE `logs` DROP INDEX `idx_logs_ip`",
    };
    tollgate_newapi_schema::with_conn!(&mut conn, |c| {
        diesel_async::RunQueryDsl::execute(diesel::sql_query(drop), c).await
    })
    .unwrap();
    assert!(
        generate(db.url(), &spec).await.is_err(),
        "keys exist already"
    );
    let report = generate(
        db.url(),
        &Spec {
            truncate: true,
            ..spec.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.heavy_token_id, 1, "ids restart after truncate");
    assert_eq!(count_logs(&mut conn).await, 5_002);
    let names = log_index_names(&mut conn).await;
    for want in LOG_INDEXES {
        assert!(
            names.iter().any(|n| n == want),
            "{backend:?}: {want} missing"
        );
    }
}

#[tokio::test]
async fn indexes_status_and_truncate_postgres() {
    indexes_status_and_truncate(Backend::Postgres).await;
}

#[tokio::test]
async fn indexes_status_and_truncate_mysql() {
    indexes_status_and_truncate(Backend::Mysql).await;
}

/// A performance smoke: 50 000 rows per backend, rows/s printed, no time asserted.
async fn perf_smoke(backend: Backend) {
    let (db, mut conn) = fresh(backend, "datagen_perf").await;
    let report = generate(
        db.url(),
        &Spec {
            rows: 50_000,
            heavy_token_rows: 10_000,
            tokens: 1_000,
            models: newapi_datagen::default_models(12),
            ..spec()
        },
    )
    .await
    .unwrap();
    assert_eq!(count_logs(&mut conn).await, 50_002);
    println!(
        "{backend:?}: {} rows in {:.2} s = {:.0} rows/s ({}, indexes deferred: {})",
        report.rows,
        report.seconds,
        report.rows_per_s(),
        report.method,
        report.indexes_deferred
    );
}

#[tokio::test]
async fn perf_smoke_postgres() {
    perf_smoke(Backend::Postgres).await;
}

#[tokio::test]
async fn perf_smoke_mysql() {
    perf_smoke(Backend::Mysql).await;
}

#[tokio::test]
async fn bad_specs_are_refused() {
    let url = "postgres://postgres@127.0.0.1:5432/none";
    for spec in [
        Spec {
            tokens: 0,
            ..spec()
        },
        Spec {
            heavy_token_rows: 20_001,
            ..spec()
        },
        Spec {
            tokens: 1,
            ..spec()
        },
        Spec {
            consume_share: 1.5,
            ..spec()
        },
        Spec {
            models: vec![],
            ..spec()
        },
    ] {
        assert!(generate(url, &spec).await.is_err(), "{spec:?}");
    }
    let mysql_copy = Spec {
        method: InsertMethod::Copy,
        ..spec()
    };
    assert!(generate("mysql://root@127.0.0.1:3306/none", &mysql_copy)
        .await
        .is_err());
    assert!(generate("sqlite://x", &spec()).await.is_err());
}
