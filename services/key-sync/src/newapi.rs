//! new-api's import API (DESIGN.md, "new-api import contract"), behind a small trait so
//! the sync logic does not care how keys reach the gateway.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use tollgate_domain::api_key::ApiKey;
use tollgate_domain::ids::UserId;

/// One key to import.
#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    /// The key (sent without `sk-`).
    pub key: &'a ApiKey,
    /// Its owner, new-api's `external_user_id`.
    pub user: UserId,
    /// Its name.
    pub name: &'a str,
}

/// Why an import did not land. Messages never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// No answer: refused, reset, or past the timeout.
    #[error("new-api unreachable: {0}")]
    Transport(String),
    /// An HTTP error status.
    #[error("new-api answered HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// Its message, shortened.
        message: String,
    },
    /// HTTP 200 with `success:false`, new-api's usual way to refuse.
    #[error("new-api refused the key: {0}")]
    Refused(String),
    /// An answer that is not the contract's shape.
    #[error("unexpected answer from new-api: {0}")]
    BadAnswer(String),
}

impl ImportError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ImportError::Transport(_) => "transport",
            ImportError::Status { .. } => "status",
            ImportError::Refused(_) => "refused",
            ImportError::BadAnswer(_) => "bad_answer",
        }
    }
}

/// Something that can put a key into the gateway; answers new-api's token id.
pub trait TokenImporter: Send + Sync {
    /// Import `req`, idempotently (the same key for the same user again is a success).
    fn import<'a>(&'a self, req: ImportRequest<'a>) -> BoxFuture<'a, Result<i64, ImportError>>;
}

/// The real client: `POST $NEWAPI_BASE_URL/api/token/import`.
#[derive(Clone)]
pub struct NewApiClient {
    http: reqwest::Client,
    url: String,
    admin_token: String,
}

impl NewApiClient {
    /// A client whose every call times out after `timeout`.
    pub fn new(base_url: &str, admin_token: &str, timeout: Duration) -> Self {
        Self {
            http: tollgate_web::http_client::http_client(timeout),
            url: format!("{}/api/token/import", base_url.trim_end_matches('/')),
            admin_token: admin_token.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<AnswerData>,
}

#[derive(Deserialize)]
struct AnswerData {
    token_id: i64,
}

impl TokenImporter for NewApiClient {
    fn import<'a>(&'a self, req: ImportRequest<'a>) -> BoxFuture<'a, Result<i64, ImportError>> {
        Box::pin(async move {
            let body = json!({
                "key": req.key.expose(),
                "external_user_id": req.user.to_string(),
                "name": req.name,
                "unlimited_quota": true,
            });
            let res = self
                .http
                .post(&self.url)
                .bearer_auth(&self.admin_token)
                .json(&body)
                .send()
                .await
                .map_err(|e| ImportError::Transport(describe_transport(&e)))?;
            let status = res.status();
            let text = res
                .text()
                .await
                .map_err(|e| ImportError::Transport(describe_transport(&e)))?;
            let text = scrub(&text, req.key);
            if !status.is_success() {
                return Err(ImportError::Status {
                    status: status.as_u16(),
                    message: shorten(&text),
                });
            }
            let answer: Answer =
                serde_json::from_str(&text).map_err(|_| ImportError::BadAnswer(shorten(&text)))?;
            match (answer.success, answer.data) {
                (true, Some(data)) => Ok(data.token_id),
                (true, None) => Err(ImportError::BadAnswer(
                    "success without data.token_id".into(),
                )),
                (false, _) => Err(ImportError::Refused(shorten(&answer.message))),
            }
        })
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or failed".into()
    } else {
        // reqwest's Display can include the URL; the URL holds no secret, the key is in the body.
        let mut text = e.to_string();
        if let Some(source) = std::error::Error::source(e) {
            text = format!("{text}: {source}");
        }
        shorten(&text)
    }
}

/// Never let the key travel into an error message, a log line or the database.
fn scrub(text: &str, key: &ApiKey) -> String {
    text.replace(key.expose(), &key.hint())
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scrubbed_and_messages_shortened() {
        let key = ApiKey::generate();
        let text = format!("duplicate key {} for user", key.expose());
        let scrubbed = scrub(&text, &key);
        assert!(!scrubbed.contains(key.expose()));
        assert!(scrubbed.contains(&key.hint()));
        assert_eq!(shorten(&"é".repeat(400)).chars().count(), 151);
    }
}
