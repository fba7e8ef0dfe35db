//! new-api's logs in ClickHouse (`LOG_SQL_DSN`): as new-api does, the table is created at
//! start with new-api's own statement and each consume log is one `INSERT`, made after the
//! quota updates in the main database. The simulator speaks ClickHouse's HTTP interface
//! only (`http(s)://user:password@host:8123/?database=db`, which new-api accepts too); new-api's
//! native `clickhouse://…:9000` form is not simulated.

use std::time::Duration;

use anyhow::Context;
use tollgate_newapi_schema::NewLog;
use tollgate_newapi_schema::CLICKHOUSE_LOGS;

/// Where logs go.
#[derive(Clone)]
pub(crate) struct ClickHouseLogs {
    http: reqwest::Client,
    url: reqwest::Url,
}

impl ClickHouseLogs {
    /// Connect to `dsn` (`http(s)://…?database=…`) and create `logs` if missing.
    pub(crate) async fn open(dsn: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(dsn).context("LOG_SQL_DSN is not a URL")?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "LOG_SQL_DSN: the simulator writes over ClickHouse's HTTP interface (http(s)://…)"
        );
        let logs = Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            url,
        };
        logs.send(CLICKHOUSE_LOGS.to_owned())
            .await
            .context("creating logs in ClickHouse")?;
        Ok(logs)
    }

    /// Write one log (`id` 0 there, as new-api leaves it).
    pub(crate) async fn insert(&self, log: &NewLog) -> anyhow::Result<()> {
        let row = serde_json::json!({
            "id": 0, "user_id": log.user_id, "created_at": log.created_at, "type": log.log_type,
            "content": log.content, "username": log.username, "token_name": log.token_name,
            "model_name": log.model_name, "quota": log.quota, "prompt_tokens": log.prompt_tokens,
            "completion_tokens": log.completion_tokens, "use_time": log.use_time,
            "is_stream": u8::from(log.is_stream), "channel_id": log.channel_id,
            "token_id": log.token_id, "group": log.group, "ip": log.ip,
            "request_id": log.request_id, "other": log.other,
        });
        self.send(format!("INSERT INTO logs FORMAT JSONEachRow\n{row}"))
            .await
    }

    async fn send(&self, body: String) -> anyhow::Result<()> {
        let mut req = self.http.post(self.url.clone()).body(body);
        if !self.url.username().is_empty() {
            req = req.basic_auth(self.url.username(), self.url.password());
        }
        let res = req.send().await.map_err(|e| e.without_url())?;
        let status = res.status();
        anyhow::ensure!(
            status.is_success(),
            "clickhouse answered {status}: {}",
            res.text()
                .await
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or("")
        );
        Ok(())
    }
}
