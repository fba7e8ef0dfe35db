//! A small client of ClickHouse's HTTP interface: SQL in the body, `JSONEachRow` out, the
//! database and output settings as URL parameters, HTTP basic auth. Nothing here needs a
//! server newer than 18.16 (no query parameters, no `RowBinaryWithNamesAndTypes`).
//!
//! Errors never carry the password (it travels in a header) and keep only the first line
//! of the server's message.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::dsn::Target;

/// What the native port answers an HTTP request with (18.16 and later).
const NATIVE_PORT_REPLY: &str = "is for clickhouse-client program";

/// Why a ClickHouse call failed.
#[derive(Debug, thiserror::Error)]
pub enum ChError {
    /// Not reachable, or no answer in time.
    #[error("clickhouse unreachable: {0}")]
    Transport(String),
    /// The server refused the query.
    #[error("clickhouse answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The first line of its message.
        message: String,
    },
    /// The URL names the native port (new-api's DSN pasted unchanged).
    #[error(
        "NEWAPI_LOG_DATABASE_URL points at ClickHouse's native port ({0}); usage-stats uses its \
         HTTP interface: keep the host and user, use the HTTP port (8123 by default)"
    )]
    NativePort(u16),
    /// A row that does not read as expected.
    #[error("clickhouse row: {0}")]
    Row(String),
}

/// One ClickHouse server and database (its `Debug` shows no password).
#[derive(Clone, Debug)]
pub struct ClickHouse {
    /// Calls answered whole (bounded by the timeout).
    http: reqwest::Client,
    /// Streamed exports: a connect timeout and a timeout between reads, none in total.
    streaming: reqwest::Client,
    target: Target,
}

impl ClickHouse {
    /// A client of `target`; each answered call is bounded by `timeout`.
    pub fn new(target: Target, timeout: Duration) -> Result<Self, ChError> {
        let build = |b: reqwest::ClientBuilder| {
            b.connect_timeout(timeout.min(Duration::from_secs(5)))
                .build()
                .map_err(|e| ChError::Transport(e.to_string()))
        };
        Ok(Self {
            http: build(reqwest::Client::builder().timeout(timeout))?,
            streaming: build(reqwest::Client::builder().read_timeout(timeout))?,
            target,
        })
    }

    /// The server's version; says so when the URL names the native port.
    pub async fn version(&self) -> Result<String, ChError> {
        let res = self.send(&self.http, "SELECT version()").await;
        match res {
            Ok(text) => Ok(text.text().await.map_err(transport)?.trim().to_owned()),
            Err(ChError::Server { message, .. }) if message.contains(NATIVE_PORT_REPLY) => {
                Err(ChError::NativePort(self.target.base.port().unwrap_or(0)))
            }
            Err(e) => Err(e),
        }
    }

    /// Every row of `sql` (without a `FORMAT`), read as `T`.
    pub async fn rows<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, ChError> {
        let body = self
            .send(&self.http, &format!("{sql} FORMAT JSONEachRow"))
            .await?
            .bytes()
            .await
            .map_err(transport)?;
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).map_err(|e| ChError::Row(e.to_string())))
            .collect()
    }

    /// The rows of `sql` as they arrive, one `T` per line.
    pub async fn stream<T: DeserializeOwned + 'static>(
        &self,
        sql: &str,
    ) -> Result<impl Stream<Item = Result<T, ChError>> + 'static, ChError> {
        let res = self
            .send(&self.streaming, &format!("{sql} FORMAT JSONEachRow"))
            .await?;
        let lines = futures_util::stream::unfold(
            (res.bytes_stream(), Vec::<u8>::new(), false),
            |(mut body, mut pending, mut ended)| async move {
                loop {
                    if let Some(at) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=at).collect();
                        return Some((Ok(line), (body, pending, ended)));
                    }
                    if ended {
                        if pending.is_empty() {
                            return None;
                        }
                        let line = std::mem::take(&mut pending);
                        return Some((Ok(line), (body, pending, ended)));
                    }
                    match body.next().await {
                        Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                        Some(Err(e)) => return Some((Err(transport(e)), (body, Vec::new(), true))),
                        None => ended = true,
                    }
                }
            },
        );
        Ok(lines
            .filter(|line| {
                let blank = matches!(line, Ok(l) if l.iter().all(u8::is_ascii_whitespace));
                std::future::ready(!blank)
            })
            .map(|line| serde_json::from_slice(&line?).map_err(|e| ChError::Row(e.to_string()))))
    }

    async fn send(&self, http: &reqwest::Client, sql: &str) -> Result<reqwest::Response, ChError> {
        let mut req = http
            .post(self.target.base.clone())
            .query(&[
                ("database", self.target.database.as_str()),
                ("output_format_json_quote_64bit_integers", "0"),
            ])
            .body(sql.to_owned());
        if let Some(user) = &self.target.user {
            req = req.basic_auth(
                user,
                self.target
                    .password
                    .as_ref()
                    .map(SecretString::expose_secret),
            );
        }
        let res = req.send().await.map_err(transport)?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        Err(ChError::Server {
            status,
            message: text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect(),
        })
    }
}

fn transport(e: reqwest::Error) -> ChError {
    // reqwest's message names the URL, which holds no credentials (they go in a header).
    ChError::Transport(e.without_url().to_string())
}

/// A string as a ClickHouse literal: quoted, backslashes and quotes escaped.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::literal;

    #[test]
    fn literals_escape_what_clickhouse_reads_specially() {
        assert_eq!(literal("gpt-4o"), "'gpt-4o'");
        assert_eq!(literal("a'b"), "'a\\'b'");
        assert_eq!(literal("a\\'); DROP"), "'a\\\\\\'); DROP'");
        assert_eq!(literal("x\ny"), "'x\\ny'");
    }
}
