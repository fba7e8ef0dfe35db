//! The key management service: organisations and their quota (docs/contracts.md#kms). Quota is in
//! dollars on the wire and cents here. Every call has a timeout; [`with_retries`] applies
//! the retry schedule to transient failures only.

use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_domain::backoff::Backoff;
use tollgate_domain::money::Cents;

/// An organisation as the KMS knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsOrg {
    /// `c_organization_id`.
    pub c_organization_id: String,
    /// `l_team_id`: the LiteLLM team named in limit webhooks.
    pub l_team_id: String,
    /// The quota.
    pub quota: Cents,
    /// Spend so far, when the backend reports it (LiteLLM's team `spend`; the KMS contract
    /// has no usage, but a KMS answering `usage` is read).
    pub usage: Option<Cents>,
}

/// What went wrong talking to the KMS.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KmsError {
    /// 404: no such organisation.
    #[error("organisation not found in the KMS")]
    NotFound,
    /// 5xx, timeout, transport failure or an unreadable answer: worth retrying.
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
    /// Another 4xx: the request itself was refused.
    #[error("KMS refused the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The answer's text, shortened.
        message: String,
    },
}

/// The three KMS calls billing makes.
pub trait Kms: Send + Sync {
    /// The id an organisation is known by to the backend: the KMS knows organisations by
    /// `c_organization_id`; LiteLLM knows teams (an adopted team keeps its own id).
    fn holder<'a>(&self, c_org: &'a str, team: Option<&'a str>) -> &'a str {
        let _ = team;
        c_org
    }
    /// `GET /organizations/{id}`.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<KmsOrg, KmsError>>;
    /// `POST /organizations/` with the initial quota.
    fn create<'a>(&'a self, id: &'a str, quota: Cents) -> BoxFuture<'a, Result<KmsOrg, KmsError>>;
    /// `PUT /organizations/{id}/quota`: set (never add).
    fn set_quota<'a>(
        &'a self,
        id: &'a str,
        quota: Cents,
    ) -> BoxFuture<'a, Result<KmsOrg, KmsError>>;
}

/// The real client over HTTP.
#[derive(Clone)]
pub struct KmsClient {
    http: reqwest::Client,
    base: String,
}

impl KmsClient {
    /// A client for `base_url` whose every call times out after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        Self {
            http: tollgate_web::http_client::http_client(timeout),
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// `$KMS_BASE_URL/organizations/<id>[/<tail>]`, each segment percent-encoded.
    fn org_url(&self, id: &str, tail: Option<&str>) -> String {
        let mut url = url::Url::parse(&self.base).expect("KMS_BASE_URL is validated at start");
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(["organizations", id])
            .extend(tail);
        url.into()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<KmsOrg, KmsError> {
        let (status, body) =
            exchange(request, |body| String::from_utf8_lossy(body).into_owned()).await?;
        parse_org(&body)
            .ok_or_else(|| KmsError::Unavailable(format!("unreadable answer (HTTP {status})")))
    }
}

/// Send `request` and classify the answer the way both quota backends need it: a 2xx is
/// its status and body; 404 is [`KmsError::NotFound`]; no answer, 5xx and 429 are
/// [`KmsError::Unavailable`] (retried); any other status is [`KmsError::Rejected`] with
/// `message(body)`, shortened to 200 characters.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    message: fn(&[u8]) -> String,
) -> Result<(u16, actix_web::web::Bytes), KmsError> {
    let response = request
        .send()
        .await
        .map_err(|e| KmsError::Unavailable(transport_error(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| KmsError::Unavailable(transport_error(&e)))?;
    if status.as_u16() == 404 {
        return Err(KmsError::NotFound);
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(KmsError::Unavailable(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        return Err(KmsError::Rejected {
            status: status.as_u16(),
            message: message(&body).chars().take(200).collect(),
        });
    }
    Ok((status.as_u16(), body))
}

impl Kms for KmsClient {
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<KmsOrg, KmsError>> {
        Box::pin(self.send(self.http.get(self.org_url(id, None))))
    }

    fn create<'a>(&'a self, id: &'a str, quota: Cents) -> BoxFuture<'a, Result<KmsOrg, KmsError>> {
        let body = CreateBody {
            c_organization_id: id,
            quota: quota.as_dollars_f64(),
        };
        let url = format!("{}/organizations/", self.base);
        Box::pin(self.send(self.http.post(url).json(&body)))
    }

    fn set_quota<'a>(
        &'a self,
        id: &'a str,
        quota: Cents,
    ) -> BoxFuture<'a, Result<KmsOrg, KmsError>> {
        let body = QuotaBody {
            new_quota: quota.as_dollars_f64(),
        };
        let url = self.org_url(id, Some("quota"));
        Box::pin(self.send(self.http.put(url).json(&body)))
    }
}

/// `POST /organizations/`: the KMS takes dollars as a JSON number.
#[derive(Serialize)]
struct CreateBody<'a> {
    c_organization_id: &'a str,
    quota: f64,
}

/// `PUT /organizations/{id}/quota`.
#[derive(Serialize)]
struct QuotaBody {
    new_quota: f64,
}

#[derive(Deserialize)]
struct OrgBody {
    c_organization_id: String,
    l_team_id: String,
    quota: Value,
    #[serde(default)]
    usage: Option<Value>,
}

/// Read `{"c_organization_id","l_team_id","quota"}`; `None` for anything else (an HTTP 200
/// carrying `success:false` included).
fn parse_org(body: &[u8]) -> Option<KmsOrg> {
    let org: OrgBody = serde_json::from_slice(body).ok()?;
    let dollars = |v: &Value| match v {
        Value::Number(n) => Cents::parse_dollars_rounding_up(&n.to_string()).ok(),
        Value::String(s) => Cents::parse_dollars_rounding_up(s).ok(),
        _ => None,
    };
    let quota = dollars(&org.quota)?;
    let usage = org.usage.as_ref().and_then(dollars).filter(|u| u.0 >= 0);
    if org.l_team_id.is_empty() {
        return None;
    }
    Some(KmsOrg {
        c_organization_id: org.c_organization_id,
        l_team_id: org.l_team_id,
        quota,
        usage,
    })
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "unreadable answer".into()
    } else {
        // Not `e.to_string()`: it names the URL, and logs stay free of configuration.
        "request failed".into()
    }
}

/// A retry schedule: `attempts` in all, waiting per `backoff` (with jitter) in between.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// Waits between attempts.
    pub backoff: Backoff,
}

/// Run `call` until it succeeds, fails with a non-transient error, or the attempts run out.
/// Returns the last result and the attempts made.
pub async fn with_retries<T, F, Fut>(policy: RetryPolicy, mut call: F) -> (Result<T, KmsError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, KmsError>>,
{
    let mut attempt = 1;
    loop {
        let result = call().await;
        match result {
            Err(KmsError::Unavailable(ref why)) if attempt < policy.attempts => {
                let wait = policy.backoff.delay(attempt, rand::random::<f64>());
                tracing::warn!(attempt, error = %why, wait_ms = wait.as_millis() as u64, "KMS call failed, retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return (other, attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_shape_and_refuses_others() {
        let org =
            parse_org(br#"{"c_organization_id":"o","l_team_id":"team_1","quota":1020.5}"#).unwrap();
        assert_eq!(org.quota, Cents(102_050));
        assert_eq!(org.l_team_id, "team_1");
        assert!(parse_org(br#"{"success":false,"message":"x"}"#).is_none());
        assert!(parse_org(br#"{"c_organization_id":"o","l_team_id":"","quota":1}"#).is_none());
        assert!(parse_org(b"<html>").is_none());
    }

    #[test]
    fn path_segments_are_encoded() {
        let kms = KmsClient::new("http://kms:8089/", Duration::from_secs(1));
        assert_eq!(
            kms.org_url("org-1_a.b:c", None),
            "http://kms:8089/organizations/org-1_a.b:c"
        );
        assert_eq!(
            kms.org_url("a/b c", Some("quota")),
            "http://kms:8089/organizations/a%2Fb%20c/quota"
        );
    }

    #[tokio::test]
    async fn retries_only_transient_failures() {
        let policy = RetryPolicy {
            attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(1),
                factor: 2,
                cap: Duration::from_millis(2),
            },
        };
        let mut calls = 0;
        let (r, n) = with_retries(policy, || {
            calls += 1;
            async { Err::<(), _>(KmsError::Unavailable("down".into())) }
        })
        .await;
        assert!(matches!(r, Err(KmsError::Unavailable(_))));
        assert_eq!((n, calls), (3, 3));
        let mut calls = 0;
        let (r, n) = with_retries(policy, || {
            calls += 1;
            async { Err::<(), _>(KmsError::NotFound) }
        })
        .await;
        assert!(matches!(r, Err(KmsError::NotFound)));
        assert_eq!((n, calls), (1, 1));
        let mut calls = 0;
        let (r, n) = with_retries(policy, || {
            calls += 1;
            let ok = calls == 2;
            async move {
                if ok {
                    Ok(7)
                } else {
                    Err(KmsError::Unavailable("blip".into()))
                }
            }
        })
        .await;
        assert_eq!((r.unwrap(), n), (7, 2));
    }
}
