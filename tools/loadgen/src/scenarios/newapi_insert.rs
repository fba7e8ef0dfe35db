//! `newapi-insert`: the baseline of key-sync's database mode. One iteration inserts what a
//! signup puts into a stock new-api — one `users` row and one `tokens` row, the same columns
//! key-sync writes — in one transaction, straight into new-api's database, through a pool of
//! the same size key-sync uses. Nothing else: no Tollgate database, no HTTP.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use reqwest::Client;
use tollgate_newapi_schema::schema::tokens;
use tollgate_newapi_schema::{with_conn, Backend, NewapiPool};

use super::{random_key, step, Fail};
use crate::report::{Failure, StepLog};
use crate::runner::Scenario;
use crate::target::TargetError;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The `newapi-insert` scenario.
pub struct NewapiInsert {
    pool: NewapiPool,
    // bb8 hands a returned connection to whichever task asks next, and a loop that asks again
    // at once wins: with 50 workers on 10 connections about 10 ran and 40 waited seconds, so
    // the baseline was measured at 10 concurrent. A FIFO queue (tokio's semaphore is fair)
    // with one permit per connection serves the workers in turn, as key-sync's requests are.
    queue: tokio::sync::Semaphore,
}

/// One iteration's username and key.
pub struct NewapiInsertInput {
    username: String,
    key: String,
}

/// Accept only a database on this machine, like every other target.
fn local_database(url: &str) -> Result<(), TargetError> {
    let parsed =
        url::Url::parse(url).map_err(|e| TargetError(format!("invalid database URL: {e}")))?;
    match parsed.host_str() {
        Some("127.0.0.1" | "localhost") | None => Ok(()),
        Some(host) => Err(TargetError(format!(
            "refusing non-local database (host {host:?}): loadgen only loads this machine"
        ))),
    }
}

impl NewapiInsert {
    /// Against new-api's database at `url` (`postgres://` or `mysql://` on this machine),
    /// with at most `pool` connections.
    pub fn new(url: &str, pool: u32) -> anyhow::Result<Self> {
        local_database(url)?;
        anyhow::ensure!(pool >= 1, "--pool must be at least 1");
        let queue = tokio::sync::Semaphore::new(pool as usize);
        let pool = NewapiPool::new(url, pool, std::time::Duration::from_secs(10))?;
        Ok(NewapiInsert { pool, queue })
    }
}

impl Scenario for NewapiInsert {
    type Input = NewapiInsertInput;

    fn name(&self) -> &'static str {
        "newapi-insert"
    }

    fn steps(&self) -> &'static [&'static str] {
        &["insert"]
    }

    fn prepare(&self, _seq: u64) -> NewapiInsertInput {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        NewapiInsertInput {
            username: format!("sb_{}", &hex[..17]),
            key: random_key(),
        }
    }

    async fn iterate(
        &self,
        _client: &Client,
        input: NewapiInsertInput,
        log: &mut StepLog,
    ) -> Result<(), Failure> {
        step(log, 0, async {
            let _turn = self
                .queue
                .acquire()
                .await
                .map_err(|e| Fail::new("pool", e.to_string()))?;
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| Fail::new("pool", e.to_string()))?;
            let backend = self.pool.backend();
            let now = chrono::Utc::now().timestamp();
            let email = format!("{}@bench.local", input.username);
            let user_sql = match backend {
                Backend::Postgres => {
                    "INSERT INTO users (username, password, display_name, role, status, \"group\", \
                     quota, created_at, email) VALUES ($1, $2, $3, 1, 1, 'default', 500000000, \
                     $4, $5) RETURNING id"
                }
                Backend::Mysql => {
                    "INSERT INTO users (username, password, display_name, role, status, `group`, \
                     quota, created_at, email) VALUES (?, ?, ?, 1, 1, 'default', 500000000, ?, ?)"
                }
            };
            let display: String = email.chars().take(20).collect();
            with_conn!(&mut conn, |c| {
                c.transaction::<_, DieselError, _>(async |c| {
                    // As key-sync does it: RETURNING on Postgres, LAST_INSERT_ID() on MySQL.
                    let user = diesel::sql_query(user_sql)
                        .bind::<Text, _>(&input.username)
                        .bind::<Text, _>("bench-no-login")
                        .bind::<Text, _>(&display)
                        .bind::<BigInt, _>(now)
                        .bind::<Text, _>(&email);
                    let user_id: i64 = if backend == Backend::Postgres {
                        user.get_result::<Id>(c).await?.id
                    } else {
                        user.execute(c).await?;
                        diesel::sql_query("SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS id")
                            .get_result::<Id>(c)
                            .await?
                            .id
                    };
                    diesel::insert_into(tokens::table)
                        .values((
                            tokens::user_id.eq(user_id),
                            tokens::key.eq(&input.key),
                            tokens::status.eq(1_i64),
                            tokens::name.eq("default"),
                            tokens::created_time.eq(now),
                            tokens::accessed_time.eq(now),
                            tokens::expired_time.eq(-1_i64),
                            tokens::remain_quota.eq(0_i64),
                            tokens::unlimited_quota.eq(true),
                            tokens::model_limits_enabled.eq(false),
                            tokens::model_limits.eq(""),
                            tokens::allow_ips.eq(""),
                            tokens::used_quota.eq(0_i64),
                            tokens::group.eq(""),
                            tokens::cross_group_retry.eq(false),
                        ))
                        .execute(c)
                        .await?;
                    Ok(())
                })
                .await
            })
            .map_err(|e| Fail::new("database", e.to_string()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_databases() {
        assert!(local_database("postgres://postgres@127.0.0.1:5432/x").is_ok());
        assert!(local_database("mysql://root@localhost:3306/x").is_ok());
        assert!(local_database("postgres://u@db.example.com/x").is_err());
    }
}
