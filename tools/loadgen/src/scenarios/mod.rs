//! The scenarios and the HTTP helpers they share.

mod fixed;
mod import;
mod limit_webhook;
mod newapi_insert;
mod signup;
mod usage_mix;

use std::future::Future;
use std::time::Instant;

use reqwest::{RequestBuilder, StatusCode};

pub use fixed::{parse_header, Fixed};
pub use import::{random_key, Import};
pub use limit_webhook::{
    limit_event_body, random_prefix, sign, LimitWebhook, LimitWebhookOptions, SetupSummary,
};
pub use newapi_insert::NewapiInsert;
pub use signup::Signup;
pub use usage_mix::{parse_mix, parse_weights, MixOptions, UsageMix};

use crate::report::{Failure, StepLog};

/// A failed step, before it is tied to its step index.
#[derive(Debug)]
pub(crate) struct Fail {
    kind: String,
    detail: String,
}

impl Fail {
    pub(crate) fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Fail {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

fn client_error(e: &reqwest::Error) -> Fail {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    // The chain of sources says why (connection refused, reset, …).
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    Fail::new(kind, detail)
}

/// Send the request and read the whole body.
pub(crate) async fn exchange(request: RequestBuilder) -> Result<(StatusCode, Vec<u8>), Fail> {
    let response = request.send().await.map_err(|e| client_error(&e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| client_error(&e))?;
    Ok((status, body.to_vec()))
}

/// `Ok` if `status` is `expected`; otherwise a `status_<code>` failure showing the body.
pub(crate) fn expect_status(status: StatusCode, expected: u16, body: &[u8]) -> Result<(), Fail> {
    if status.as_u16() == expected {
        Ok(())
    } else {
        Err(Fail::new(
            format!("status_{}", status.as_u16()),
            String::from_utf8_lossy(body).into_owned(),
        ))
    }
}

/// Parse a JSON body into `T`, or a `bad_json` failure.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(body).map_err(|e| {
        Fail::new(
            "bad_json",
            format!("{e}: {}", String::from_utf8_lossy(body)),
        )
    })
}

/// Run step number `index`, timing it; a completed step's duration goes to `log`.
pub(crate) async fn step<T>(
    log: &mut StepLog,
    index: usize,
    fut: impl Future<Output = Result<T, Fail>>,
) -> Result<T, Failure> {
    let started = Instant::now();
    match fut.await {
        Ok(value) => {
            log.durations.push(started.elapsed());
            Ok(value)
        }
        Err(fail) => Err(Failure {
            step: index,
            kind: fail.kind,
            detail: fail.detail,
        }),
    }
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer(token: &str) -> anyhow::Result<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| anyhow::anyhow!("the token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}
