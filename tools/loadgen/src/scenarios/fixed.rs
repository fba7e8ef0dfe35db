//! `get` and `post`: a fixed request, round-robin over one or more URLs.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};

use super::{exchange, expect_status, step};
use crate::report::{Failure, StepLog};
use crate::runner::Scenario;
use crate::target::local_url;

/// The `get` / `post` scenario.
pub struct Fixed {
    name: &'static str,
    method: Method,
    urls: Vec<Url>,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    expect_status: u16,
}

/// Parse `Name: value`.
pub fn parse_header(raw: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("header {raw:?} is not of the form \"Name: value\""))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| anyhow::anyhow!("invalid header name in {raw:?}"))?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| anyhow::anyhow!("invalid header value for {name}"))?;
    if name == reqwest::header::AUTHORIZATION || name == reqwest::header::COOKIE {
        value.set_sensitive(true);
    }
    Ok((name, value))
}

impl Fixed {
    /// `GET` each of `urls` in turn with `headers`.
    pub fn get(urls: &[String], headers: &[String], expect_status: u16) -> anyhow::Result<Self> {
        Self::new("get", Method::GET, urls, headers, None, expect_status)
    }

    /// `POST` `body` (sent as is) to each of `urls` in turn with `headers`.
    pub fn post(
        urls: &[String],
        headers: &[String],
        body: Vec<u8>,
        expect_status: u16,
    ) -> anyhow::Result<Self> {
        Self::new(
            "post",
            Method::POST,
            urls,
            headers,
            Some(body),
            expect_status,
        )
    }

    fn new(
        name: &'static str,
        method: Method,
        urls: &[String],
        headers: &[String],
        body: Option<Vec<u8>>,
        expect_status: u16,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!urls.is_empty(), "give at least one --url");
        anyhow::ensure!(
            (100..=599).contains(&expect_status),
            "--expect-status {expect_status} is not an HTTP status"
        );
        let urls = urls
            .iter()
            .map(|u| local_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        let mut map = HeaderMap::new();
        for raw in headers {
            let (name, value) = parse_header(raw)?;
            map.append(name, value);
        }
        Ok(Fixed {
            name,
            method,
            urls,
            headers: map,
            body,
            expect_status,
        })
    }
}

impl Scenario for Fixed {
    type Input = usize;

    fn name(&self) -> &'static str {
        self.name
    }

    fn steps(&self) -> &'static [&'static str] {
        if self.method == Method::GET {
            &["get"]
        } else {
            &["post"]
        }
    }

    fn prepare(&self, seq: u64) -> usize {
        (seq % self.urls.len() as u64) as usize
    }

    async fn iterate(
        &self,
        client: &Client,
        index: usize,
        log: &mut StepLog,
    ) -> Result<(), Failure> {
        step(log, 0, async {
            let mut request = client
                .request(self.method.clone(), self.urls[index].clone())
                .headers(self.headers.clone());
            if let Some(body) = &self.body {
                request = request.body(body.clone());
            }
            let (status, body) = exchange(request).await?;
            expect_status(status, self.expect_status, &body)
        })
        .await
    }
}
