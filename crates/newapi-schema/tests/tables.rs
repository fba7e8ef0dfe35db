//! The DDL and row types against real Postgres and MariaDB servers.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::schema::{logs, tokens, users};
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{
    create_tables, log_type, with_conn, Backend, Log, NewLog, NewToken, NewUser, NewapiConn,
    NewapiPool, Token, User, LOG_INDEXES, TOKEN_INDEXES, USER_INDEXES,
};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn index_names(conn: &mut NewapiConn) -> Vec<String> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
        }
        Backend::Mysql => {
            "SELECT DISTINCT index_name AS name FROM information_schema.statistics \
             WHERE table_schema = DATABASE()"
        }
    };
    let rows: Vec<Name> = with_conn!(conn, |c| diesel::sql_query(sql).load(c).await).unwrap();
    rows.into_iter().map(|r| r.name).collect()
}

async fn tables_roundtrip(backend: Backend) {
    let db = ScratchDb::create(backend, "newapi_schema").await.unwrap();
    let mut conn = NewapiConn::establish(db.url()).await.unwrap();
    assert_eq!(conn.backend(), backend);
    create_tables(&mut conn).await.unwrap();
    create_tables(&mut conn).await.unwrap();

    let names = index_names(&mut conn).await;
    for expected in LOG_INDEXES.iter().chain(TOKEN_INDEXES).chain(USER_INDEXES) {
        assert!(
            names.iter().any(|n| n == expected),
            "{backend:?}: {expected} missing in {names:?}"
        );
    }

    // users: insert and find by external id.
    let new_user = NewUser {
        external_user_id: Some("ext-alice".into()),
        ..NewUser::enabled("alice", 1_000, 1_700_000_000)
    };
    let user: User = with_conn!(&mut conn, |c| {
        diesel::insert_into(users::table)
            .values(&new_user)
            .execute(c)
            .await?;
        users::table
            .filter(users::external_user_id.eq("ext-alice"))
            .select(User::as_select())
            .first(c)
            .await
    })
    .unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(user.group, "default");
    assert_eq!((user.status, user.quota), (1, 1_000));

    // tokens: insert with a non-default group, read back.
    let key = "a".repeat(48);
    let mut new_token = NewToken::enabled(user.id, &key, "default", 1_700_000_000);
    new_token.group = "vip".into();
    new_token.unlimited_quota = true;
    new_token.external_user_id = Some("ext-alice".into());
    let token: Token = with_conn!(&mut conn, |c| {
        diesel::insert_into(tokens::table)
            .values(&new_token)
            .execute(c)
            .await?;
        tokens::table
            .filter(tokens::key.eq(&key))
            .filter(tokens::deleted_at.is_null())
            .select(Token::as_select())
            .first(c)
            .await
    })
    .unwrap();
    assert_eq!(token.group, "vip");
    assert_eq!(token.user_id, user.id);
    assert_eq!(token.status, 1);
    assert_eq!(token.expired_time, -1);
    assert!(token.unlimited_quota);
    assert_eq!(token.deleted_at, None);

    // The key is unique.
    let duplicate = with_conn!(&mut conn, |c| {
        diesel::insert_into(tokens::table)
            .values(&new_token)
            .execute(c)
            .await
    });
    assert!(matches!(
        duplicate,
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    ));

    // Soft delete round-trips through deleted_at.
    let deleted_at = chrono::DateTime::from_timestamp(1_700_000_123, 0)
        .unwrap()
        .naive_utc();
    let reread: Token = with_conn!(&mut conn, |c| {
        diesel::update(tokens::table.find(token.id))
            .set(tokens::deleted_at.eq(Some(deleted_at)))
            .execute(c)
            .await?;
        tokens::table
            .find(token.id)
            .select(Token::as_select())
            .first(c)
            .await
    })
    .unwrap();
    assert_eq!(reread.deleted_at, Some(deleted_at));

    // A row written with only a key (as by an older new-api) reads NULLs as zero values
    // and gets GORM's column defaults.
    let bare_key = "b".repeat(48);
    let bare: Token = with_conn!(&mut conn, |c| {
        diesel::insert_into(tokens::table)
            .values(tokens::key.eq(&bare_key))
            .execute(c)
            .await?;
        tokens::table
            .filter(tokens::key.eq(&bare_key))
            .select(Token::as_select())
            .first(c)
            .await
    })
    .unwrap();
    assert_eq!((bare.status, bare.expired_time, bare.user_id), (1, -1, 0));
    assert_eq!((bare.group.as_str(), bare.name.as_str()), ("", ""));
    assert!(!bare.unlimited_quota);
    assert_eq!(bare.external_user_id, None);

    // logs: insert a consume log with a group and read it back.
    let new_log = NewLog {
        user_id: user.id,
        created_at: 1_700_000_200,
        log_type: log_type::CONSUME,
        content: "model ratio 1".into(),
        username: "alice".into(),
        token_name: "default".into(),
        model_name: "gpt-4o-mini".into(),
        quota: 150,
        prompt_tokens: 100,
        completion_tokens: 50,
        use_time: 2,
        is_stream: false,
        channel_id: 1,
        token_id: token.id,
        group: "vip".into(),
        ip: String::new(),
        request_id: "20240101000000000abcdefgh".into(),
        other: "{}".into(),
    };
    let logs_read: Vec<Log> = with_conn!(&mut conn, |c| {
        diesel::insert_into(logs::table)
            .values(&new_log)
            .execute(c)
            .await?;
        logs::table
            .filter(logs::token_id.eq(token.id))
            .filter(logs::type_.eq(log_type::CONSUME))
            .filter(logs::group.eq("vip"))
            .select(Log::as_select())
            .load(c)
            .await
    })
    .unwrap();
    assert_eq!(logs_read.len(), 1);
    let log = &logs_read[0];
    assert_eq!(log.group, "vip");
    assert_eq!(
        (log.quota, log.prompt_tokens, log.completion_tokens),
        (150, 100, 50)
    );
    assert_eq!(log.created_at, 1_700_000_200);
    assert_eq!(log.request_id, new_log.request_id);
    assert!(log.id > 0);

    // The same queries through the pool.
    let pool = NewapiPool::new(db.url(), 2, Duration::from_secs(5)).unwrap();
    assert_eq!(pool.backend(), backend);
    pool.ping(Duration::from_secs(5)).await.unwrap();
    let mut pooled = pool.get().await.unwrap();
    let count: i64 =
        with_conn!(&mut pooled, |c| tokens::table.count().get_result(c).await).unwrap();
    assert_eq!(count, 2);
    create_tables(&mut pooled).await.unwrap();
}

#[tokio::test]
async fn postgres_tables() {
    tables_roundtrip(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_tables() {
    tables_roundtrip(Backend::Mysql).await;
}

#[tokio::test]
async fn scratch_databases_are_dropped() {
    for backend in [Backend::Postgres, Backend::Mysql] {
        let db = ScratchDb::create(backend, "newapi_schema").await.unwrap();
        let name = db.name().to_owned();
        drop(db);
        let sql = match backend {
            Backend::Postgres => "SELECT datname AS name FROM pg_database",
            Backend::Mysql => "SELECT schema_name AS name FROM information_schema.schemata",
        };
        let mut conn = NewapiConn::establish(&tollgate_newapi_schema::scratch::server_url(backend))
            .await
            .unwrap();
        let rows: Vec<Name> =
            with_conn!(&mut conn, |c| diesel::sql_query(sql).load(c).await).unwrap();
        assert!(rows.iter().all(|r| r.name != name), "{name} still exists");
    }
}

/// Dropping a MariaDB scratch database ends the sessions still in it: a session parked in
/// an open transaction (as a service under test is, when the test's runtime thread is the
/// one blocked in the drop) would otherwise hold a metadata lock the drop waits on for ever.
#[tokio::test]
async fn a_mariadb_scratch_db_drops_even_with_an_open_transaction_in_it() {
    use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
    let db = ScratchDb::create(Backend::Mysql, "tg_drop_probe")
        .await
        .unwrap();
    let name = db.name().to_owned();
    let mut holder = diesel_async::AsyncMysqlConnection::establish(db.url())
        .await
        .unwrap();
    holder
        .batch_execute("CREATE TABLE t (id INT PRIMARY KEY); BEGIN; INSERT INTO t VALUES (1);")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    drop(db);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the drop waited {:?}",
        started.elapsed()
    );
    let mut admin = diesel_async::AsyncMysqlConnection::establish(
        &tollgate_newapi_schema::scratch::server_url(Backend::Mysql),
    )
    .await
    .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let left: Count = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind::<diesel::sql_types::Text, _>(&name)
    .get_result(&mut admin)
    .await
    .unwrap();
    assert_eq!(left.n, 0, "{name} is still there");
    drop(holder);
}
