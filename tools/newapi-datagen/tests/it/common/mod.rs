//! Helpers shared by the integration tests: scratch databases with new-api's tables, and
//! queries that read the same on both backends.

#![allow(dead_code)]

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use tollgate_newapi_schema::schema::{logs, tokens};
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{create_tables, with_conn, Backend, Log, NewLog, NewapiConn, Token};

pub const END: i64 = 1_700_000_000;

/// A fresh scratch database with new-api's tables, and a connection to it.
pub async fn fresh(backend: Backend, prefix: &str) -> (ScratchDb, NewapiConn) {
    let db = ScratchDb::create(backend, prefix).await.unwrap();
    let mut conn = NewapiConn::establish(db.url()).await.unwrap();
    create_tables(&mut conn).await.unwrap();
    (db, conn)
}

pub async fn count_logs(conn: &mut NewapiConn) -> i64 {
    with_conn!(conn, |c| logs::table.count().get_result::<i64>(c).await).unwrap()
}

pub async fn all_logs(conn: &mut NewapiConn) -> Vec<Log> {
    with_conn!(conn, |c| logs::table
        .select(Log::as_select())
        .order(logs::id)
        .load(c)
        .await)
    .unwrap()
}

pub async fn all_tokens(conn: &mut NewapiConn) -> Vec<Token> {
    with_conn!(conn, |c| tokens::table
        .select(Token::as_select())
        .order(tokens::id)
        .load(c)
        .await)
    .unwrap()
}

/// A log without its id, for multiset comparisons.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub user_id: i64,
    pub created_at: i64,
    pub log_type: i64,
    pub content: String,
    pub username: String,
    pub token_name: String,
    pub model_name: String,
    pub quota: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub use_time: i64,
    pub is_stream: bool,
    pub channel_id: i64,
    pub token_id: i64,
    pub group: String,
    pub ip: String,
    pub request_id: String,
    pub other: String,
}

pub fn without_id(l: Log) -> Row {
    Row {
        user_id: l.user_id,
        created_at: l.created_at,
        log_type: l.log_type,
        content: l.content,
        username: l.username,
        token_name: l.token_name,
        model_name: l.model_name,
        quota: l.quota,
        prompt_tokens: l.prompt_tokens,
        completion_tokens: l.completion_tokens,
        use_time: l.use_time,
        is_stream: l.is_stream,
        channel_id: l.channel_id,
        token_id: l.token_id,
        group: l.group,
        ip: l.ip,
        request_id: l.request_id,
        other: l.other,
    }
}

pub fn new_row(l: &NewLog) -> Row {
    Row {
        user_id: l.user_id,
        created_at: l.created_at,
        log_type: l.log_type,
        content: l.content.clone(),
        username: l.username.clone(),
        token_name: l.token_name.clone(),
        model_name: l.model_name.clone(),
        quota: l.quota,
        prompt_tokens: l.prompt_tokens,
        completion_tokens: l.completion_tokens,
        use_time: l.use_time,
        is_stream: l.is_stream,
        channel_id: l.channel_id,
        token_id: l.token_id,
        group: l.group.clone(),
        ip: l.ip.clone(),
        request_id: l.request_id.clone(),
        other: l.other.clone(),
    }
}

pub async fn sorted_rows(conn: &mut NewapiConn) -> Vec<Row> {
    let mut rows: Vec<Row> = all_logs(conn).await.into_iter().map(without_id).collect();
    rows.sort();
    rows
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
pub struct PerToken {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub token_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub consume_quota: i64,
}

/// `(token_id, COUNT(*), SUM(quota) of consume logs)` per token, computed by the database.
pub async fn per_token(conn: &mut NewapiConn) -> Vec<PerToken> {
    let int = match conn.backend() {
        Backend::Postgres => "BIGINT",
        Backend::Mysql => "SIGNED",
    };
    let sql = format!(
        "SELECT token_id, COUNT(*) AS n, \
         CAST(COALESCE(SUM(CASE WHEN type = 2 THEN quota ELSE 0 END), 0) AS {int}) AS consume_quota \
         FROM logs GROUP BY token_id ORDER BY token_id"
    );
    with_conn!(conn, |c| diesel::sql_query(&sql).load(c).await).unwrap()
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Names of the indexes on `logs`.
pub async fn log_index_names(conn: &mut NewapiConn) -> Vec<String> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT indexname::text AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename = 'logs'"
        }
        Backend::Mysql => {
            "SELECT DISTINCT index_name AS name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = 'logs'"
        }
    };
    let rows: Vec<Name> = with_conn!(conn, |c| diesel::sql_query(sql).load(c).await).unwrap();
    rows.into_iter().map(|r| r.name).collect()
}
