//! `import`: the baseline. The simulator's bare import, measured the same way as `signup`:
//! `POST {newapi}/api/token/import` with a fresh key and user, then `GET {newapi}/v1/models`
//! with that key.

use rand::distr::{Alphanumeric, SampleString};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Url};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{bearer, exchange, expect_status, parse_json, step, Fail};
use crate::report::{Failure, StepLog};
use crate::runner::Scenario;
use crate::target::local_endpoint;

/// The `import` scenario.
pub struct Import {
    import_url: Url,
    models_url: Url,
    admin: HeaderValue,
}

/// One iteration's key and request body.
pub struct ImportInput {
    body: Vec<u8>,
    /// `Bearer sk-<key>`.
    gateway_auth: HeaderValue,
}

#[derive(Deserialize)]
struct ImportAnswer {
    success: bool,
    #[serde(default)]
    message: String,
}

/// A fresh gateway key: 48 characters of `[0-9a-zA-Z]` (without `sk-`).
pub fn random_key() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

impl Import {
    /// Against the new-api (or simulator) at `newapi` (a local base URL).
    pub fn new(newapi: &str, admin_token: &str) -> anyhow::Result<Self> {
        Ok(Import {
            import_url: local_endpoint(newapi, "/api/token/import")?,
            models_url: local_endpoint(newapi, "/v1/models")?,
            admin: bearer(admin_token)?,
        })
    }
}

impl Scenario for Import {
    type Input = ImportInput;

    fn name(&self) -> &'static str {
        "import"
    }

    fn steps(&self) -> &'static [&'static str] {
        &["import", "models"]
    }

    fn prepare(&self, _seq: u64) -> ImportInput {
        let key = random_key();
        let body = json!({
            "key": key,
            "external_user_id": Uuid::new_v4().to_string(),
            "name": "default",
            "unlimited_quota": true,
        })
        .to_string()
        .into_bytes();
        let gateway_auth =
            bearer(&format!("sk-{key}")).expect("an alphanumeric key is a header value");
        ImportInput { body, gateway_auth }
    }

    async fn iterate(
        &self,
        client: &Client,
        input: ImportInput,
        log: &mut StepLog,
    ) -> Result<(), Failure> {
        step(log, 0, async {
            let (status, body) = exchange(
                client
                    .post(self.import_url.clone())
                    .header(AUTHORIZATION, self.admin.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(input.body),
            )
            .await?;
            expect_status(status, 200, &body)?;
            let answer: ImportAnswer = parse_json(&body)?;
            if answer.success {
                Ok(())
            } else {
                Err(Fail::new("success_false", answer.message))
            }
        })
        .await?;
        step(log, 1, async {
            let (status, body) = exchange(
                client
                    .get(self.models_url.clone())
                    .header(AUTHORIZATION, input.gateway_auth),
            )
            .await?;
            expect_status(status, 200, &body)
        })
        .await
    }
}
