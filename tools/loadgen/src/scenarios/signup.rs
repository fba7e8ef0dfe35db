//! `signup`: the key-sync benchmark, "signup webhook → key usable on the gateway".
//!
//! Per iteration, for a fresh user U: (a) `webhook` — `POST {key_sync}/webhooks/supabase/users`
//! (Supabase's INSERT payload, `Bearer {webhook_secret}`) → 200 `{"key_id","synced"}`;
//! (b) `keys` — `GET {key_sync}/v1/keys` with U's HS256 JWT → 200 `{"keys":[{"key":"sk-…"}]}`;
//! (c) `models` — `GET {newapi}/v1/models` with that key → 200.
//! With `webhook_only`, an iteration is (a) alone: the webhook's own latency, measured like a
//! single-operation baseline.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use key_sync::handlers::views::{OwnerKeyList, SignupAnswer};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{bearer, exchange, expect_status, parse_json, step, Fail};
use crate::report::{Failure, StepLog};
use crate::runner::Scenario;
use crate::target::local_endpoint;

/// The `signup` scenario.
pub struct Signup {
    webhook_url: Url,
    keys_url: Url,
    models_url: Url,
    webhook_auth: HeaderValue,
    jwt_key: EncodingKey,
    webhook_only: bool,
}

/// One iteration's request body and user token.
pub struct SignupInput {
    webhook_body: Vec<u8>,
    /// `Bearer <JWT of U>`.
    user_auth: HeaderValue,
}

/// The claims of a Supabase user JWT, as key-sync checks them.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserClaims {
    /// The user id.
    pub sub: String,
    /// `authenticated`.
    pub aud: String,
    /// `authenticated`.
    pub role: String,
    /// Expiry (unix seconds): an hour after `iat`.
    pub exp: u64,
    /// Issued at (unix seconds).
    pub iat: u64,
}

impl Signup {
    /// Against key-sync at `key_sync` and the gateway at `newapi` (local base URLs).
    pub fn new(
        key_sync: &str,
        newapi: &str,
        webhook_secret: &str,
        jwt_secret: &str,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!jwt_secret.is_empty(), "the JWT secret is empty");
        Ok(Signup {
            webhook_url: local_endpoint(key_sync, "/webhooks/supabase/users")?,
            keys_url: local_endpoint(key_sync, "/v1/keys")?,
            models_url: local_endpoint(newapi, "/v1/models")?,
            webhook_auth: bearer(webhook_secret)?,
            jwt_key: EncodingKey::from_secret(jwt_secret.as_bytes()),
            webhook_only: false,
        })
    }

    /// Only the webhook, one request per iteration.
    pub fn webhook_only(mut self) -> Self {
        self.webhook_only = true;
        self
    }
}

impl Scenario for Signup {
    type Input = SignupInput;

    fn name(&self) -> &'static str {
        "signup"
    }

    fn steps(&self) -> &'static [&'static str] {
        if self.webhook_only {
            &["webhook"]
        } else {
            &["webhook", "keys", "models"]
        }
    }

    fn prepare(&self, _seq: u64) -> SignupInput {
        let user = Uuid::new_v4().to_string();
        let webhook_body = json!({
            "type": "INSERT",
            "table": "users",
            "schema": "auth",
            "record": { "id": user, "email": format!("{user}@bench.local") },
            "old_record": null,
        })
        .to_string()
        .into_bytes();
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = UserClaims {
            sub: user,
            aud: "authenticated".into(),
            role: "authenticated".into(),
            exp: iat + 3600,
            iat,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.jwt_key)
            .expect("HS256 signing cannot fail");
        SignupInput {
            webhook_body,
            user_auth: bearer(&token).expect("a JWT is a header value"),
        }
    }

    async fn iterate(
        &self,
        client: &Client,
        input: SignupInput,
        log: &mut StepLog,
    ) -> Result<(), Failure> {
        let synced = step(log, 0, async {
            let (status, body) = exchange(
                client
                    .post(self.webhook_url.clone())
                    .header(AUTHORIZATION, self.webhook_auth.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(input.webhook_body),
            )
            .await?;
            expect_status(status, 200, &body)?;
            let answer: SignupAnswer = parse_json(&body)?;
            Ok(answer.synced)
        })
        .await?;
        if !synced {
            log.notes.push("webhook_synced_false");
        }
        if self.webhook_only {
            return Ok(());
        }
        let key = step(log, 1, async {
            let (status, body) = exchange(
                client
                    .get(self.keys_url.clone())
                    .header(AUTHORIZATION, input.user_auth),
            )
            .await?;
            expect_status(status, 200, &body)?;
            let answer: OwnerKeyList = parse_json(&body)?;
            match answer.keys.into_iter().next().and_then(|k| k.key) {
                Some(key) if key.starts_with("sk-") => {
                    bearer(&key).map_err(|_| Fail::new("bad_key", "the key is not a header value"))
                }
                Some(_) => Err(Fail::new(
                    "bad_key",
                    "the first key does not start with sk-",
                )),
                None => Err(Fail::new(
                    "no_key",
                    String::from_utf8_lossy(&body).into_owned(),
                )),
            }
        })
        .await?;
        step(log, 2, async {
            let (status, body) = exchange(
                client
                    .get(self.models_url.clone())
                    .header(AUTHORIZATION, key),
            )
            .await?;
            expect_status(status, 200, &body)
        })
        .await
    }
}
