//! A patched new-api's import API (docs/newapi-import.md): `POST /api/token/import` puts a
//! key in (and renames it when imported again under another name), `/api/token/import/revoke`
//! disables it, `/api/user/import/disable` disables a deleted user and all their tokens.

use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tollgate_domain::api_key::ApiKey;

use super::{scrub, shorten, Gateway, GatewayError, KeyState, Landed, Owner, UserDisabled};

/// The import API client (`$NEWAPI_BASE_URL`, Bearer `$NEWAPI_ADMIN_TOKEN`).
#[derive(Clone)]
pub struct ImportGateway {
    http: reqwest::Client,
    base: String,
    admin_token: SecretString,
}

impl ImportGateway {
    /// A client whose every call times out after `timeout`.
    pub fn new(base_url: &str, admin_token: &str, timeout: Duration) -> Self {
        Self {
            http: tollgate_web::http_client::http_client(timeout),
            base: base_url.trim_end_matches('/').to_owned(),
            admin_token: admin_token.into(),
        }
    }

    /// POST `body` to `path`; the answer's `data` on `success:true`.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        key: Option<&ApiKey>,
    ) -> Result<Option<T>, GatewayError> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.admin_token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| GatewayError::Transport(describe_transport(&e)))?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| GatewayError::Transport(describe_transport(&e)))?;
        let text = match key {
            Some(key) => scrub(&text, key),
            None => text,
        };
        if !status.is_success() {
            return Err(GatewayError::Status {
                status: status.as_u16(),
                message: shorten(&text),
            });
        }
        let answer: Answer<T> =
            serde_json::from_str(&text).map_err(|_| GatewayError::BadAnswer(shorten(&text)))?;
        if answer.success {
            Ok(answer.data)
        } else {
            Err(GatewayError::Refused(shorten(&answer.message)))
        }
    }
}

#[derive(Serialize)]
struct ImportBody<'a> {
    key: &'a str,
    external_user_id: String,
    name: &'a str,
    unlimited_quota: bool,
}

#[derive(Serialize)]
struct RevokeBody<'a> {
    key: &'a str,
    external_user_id: String,
}

#[derive(Serialize)]
struct DisableUserBody {
    external_user_id: String,
}

#[derive(Deserialize)]
struct Answer<T> {
    success: bool,
    #[serde(default)]
    message: String,
    #[serde(default = "none")]
    data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize)]
struct TokenData {
    token_id: Option<i64>,
}

#[derive(Deserialize)]
struct UserData {
    user_id: Option<i64>,
}

impl Gateway for ImportGateway {
    fn apply<'a>(
        &'a self,
        owner: Owner<'a>,
        key: KeyState<'a>,
    ) -> BoxFuture<'a, Result<Landed, GatewayError>> {
        Box::pin(async move {
            let data: Option<TokenData> = if key.active {
                let body = ImportBody {
                    key: key.key.expose(),
                    external_user_id: owner.user.to_string(),
                    name: key.name,
                    unlimited_quota: true,
                };
                self.call("/api/token/import", &body, Some(key.key)).await?
            } else {
                let body = RevokeBody {
                    key: key.key.expose(),
                    external_user_id: owner.user.to_string(),
                };
                self.call("/api/token/import/revoke", &body, Some(key.key))
                    .await?
            };
            let token_id = data.and_then(|d| d.token_id);
            if key.active && token_id.is_none() {
                return Err(GatewayError::BadAnswer(
                    "success without data.token_id".into(),
                ));
            }
            Ok(Landed {
                token_id,
                newapi_user_id: None,
            })
        })
    }

    fn disable_user<'a>(
        &'a self,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<UserDisabled, GatewayError>> {
        Box::pin(async move {
            let body = DisableUserBody {
                external_user_id: owner.user.to_string(),
            };
            let data: Option<UserData> = self.call("/api/user/import/disable", &body, None).await?;
            Ok(UserDisabled {
                newapi_user_id: data.and_then(|d| d.user_id),
                token_keys: Vec::new(),
            })
        })
    }

    fn mode(&self) -> &'static str {
        "import"
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
