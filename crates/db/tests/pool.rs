//! The pool's connections against the test Postgres server (`TEST_PG_URL`): JIT is off in
//! their sessions, and a `Prepared` query is parsed once per connection while a plain
//! `sql_query` is not kept. Only session state is read; nothing is written.

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use tollgate_db::{connect_pool, PreparedExt};

fn server_database() -> String {
    let server = std::env::var("TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    format!("{}/postgres", server.trim_end_matches('/'))
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    jit: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many statements this session has prepared whose text is `sql`.
async fn prepared_count(conn: &mut diesel_async::AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1")
        .bind::<Text, _>(sql)
        .get_result::<Count>(conn)
        .await
        .expect("read pg_prepared_statements")
        .n
}

#[tokio::test]
async fn pooled_sessions_have_jit_off() {
    let pool = connect_pool(&server_database(), 2, Duration::from_secs(5));
    let mut conn = pool.get().await.expect("a connection");
    let setting: Setting = diesel::sql_query("SELECT current_setting('jit') AS jit")
        .get_result(&mut *conn)
        .await
        .expect("SHOW jit");
    assert_eq!(setting.jit, "off");
}

#[tokio::test]
async fn prepared_queries_are_parsed_once_per_connection() {
    let pool = connect_pool(&server_database(), 1, Duration::from_secs(5));
    let mut conn = pool.get().await.expect("a connection");
    let kept = "SELECT $1::bigint + 1 AS n /* prepared test */";
    let plain = "SELECT $1::bigint + 2 AS n /* plain test */";
    for i in 0..3_i64 {
        let n: Count = diesel::sql_query(kept)
            .bind::<BigInt, _>(i)
            .prepared()
            .get_result(&mut *conn)
            .await
            .expect("prepared query");
        assert_eq!(n.n, i + 1);
        let n: Count = diesel::sql_query(plain)
            .bind::<BigInt, _>(i)
            .get_result(&mut *conn)
            .await
            .expect("plain query");
        assert_eq!(n.n, i + 2);
    }
    assert_eq!(prepared_count(&mut conn, kept).await, 1);
    assert_eq!(prepared_count(&mut conn, plain).await, 0);
}
