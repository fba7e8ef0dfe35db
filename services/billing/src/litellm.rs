//! A stock LiteLLM proxy as the quota backend (`QUOTA_BACKEND=litellm`, issue 12;
//! docs/contracts.md#litellm-proxy): an organisation is a LiteLLM team, its quota the team's
//! `max_budget` (set to the credited total, never added to), its usage the team's `spend`.
//! Every call carries the master key and has a timeout; failures map onto [`KmsError`] so
//! the same retry schedule ([`crate::kms::with_retries`]) applies to both backends.
//!
//! It serves billing through the [`Kms`] trait: an organisation's team is the team whose
//! `team_id` is the organisation's id (`l_team_id` = `c_organization_id`), created with
//! that id and the organisation's id as its alias; its quota is the team's `max_budget`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tollgate_domain::money::Cents;

use futures_util::future::BoxFuture;

use crate::kms::{exchange, Kms, KmsError, KmsOrg};

/// A team as billing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LitellmTeam {
    /// `team_id`.
    pub team_id: String,
    /// `max_budget` (none: the team has no budget).
    pub max_budget: Option<Cents>,
    /// `spend`, by [`spend_to_cents`].
    pub spend: Cents,
}

/// The LiteLLM client over HTTP.
#[derive(Clone)]
pub struct LitellmClient {
    http: reqwest::Client,
    base: String,
    master_key: String,
}

impl fmt::Debug for LitellmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LitellmClient")
            .field("base", &self.base)
            .field("master_key", &"<redacted>")
            .finish()
    }
}

/// LiteLLM's spend (float dollars) in cents: rounded **up** to the next cent, after float
/// noise below a millionth of a cent is dropped (`0.1 + 0.2` dollars is 30 cents, not 31).
/// Up, because a balance read from it must never be overstated: a spend of $1.001 leaves
/// $0.01 less, not more. `None` for a negative, non-finite or absurd value.
pub fn spend_to_cents(dollars: f64) -> Option<Cents> {
    if !dollars.is_finite() || !(0.0..=1e13).contains(&dollars) {
        return None;
    }
    let micro_cents = (dollars * 100.0 * 1e6).round();
    // At most 1e21 micro-cents: well inside f64's range; the cast saturates anyway.
    Some(Cents((micro_cents / 1e6).ceil() as i64))
}

/// A team row, as far as billing reads it (`/team/new`, `/team/update`'s `data`,
/// `/team/info`'s `team_info`).
#[derive(Deserialize)]
struct Row {
    team_id: String,
    max_budget: Option<f64>,
    #[serde(default)]
    spend: Option<f64>,
}

#[derive(Deserialize)]
struct Updated {
    data: Row,
}

#[derive(Deserialize)]
struct Info {
    team_info: Row,
}

/// `/team/new` and `/team/update`: `budget_duration` is always sent as `null` — a prepaid
/// balance never resets, and LiteLLM gives an omitted duration its configured default.
#[derive(Serialize)]
struct TeamBudget<'a> {
    team_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    team_alias: Option<&'a str>,
    max_budget: f64,
    budget_duration: Option<&'static str>,
}

impl Row {
    fn team(self) -> Option<LitellmTeam> {
        let max_budget = match self.max_budget {
            Some(max) => Some(Cents::parse_dollars_rounding_up(&max.to_string()).ok()?),
            None => None,
        };
        Some(LitellmTeam {
            team_id: self.team_id,
            max_budget,
            spend: spend_to_cents(self.spend.unwrap_or(0.0))?,
        })
    }
}

impl LitellmClient {
    /// A client for the proxy at `base_url` using `master_key`; every call times out after
    /// `timeout`.
    pub fn new(base_url: &str, master_key: &str, timeout: Duration) -> Self {
        Self {
            http: tollgate_web::http_client::http_client(timeout),
            base: base_url.trim_end_matches('/').to_owned(),
            master_key: master_key.to_owned(),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<actix_web::web::Bytes, KmsError> {
        let (_, body) = exchange(request.bearer_auth(&self.master_key), error_message).await?;
        Ok(body)
    }

    /// `GET /team/info?team_id=…`: the team's budget and spend.
    pub async fn team_info(&self, team_id: &str) -> Result<LitellmTeam, KmsError> {
        let url = format!("{}/team/info", self.base);
        let body = self
            .send(self.http.get(url).query(&[("team_id", team_id)]))
            .await?;
        serde_json::from_slice::<Info>(&body)
            .ok()
            .and_then(|info| info.team_info.team())
            .ok_or_else(|| KmsError::Unavailable("unreadable /team/info answer".into()))
    }

    /// `POST /team/new` with `team_id`, `team_alias` and `max_budget`. A taken id is
    /// LiteLLM's 400, [`KmsError::Rejected`].
    pub async fn create_team(
        &self,
        team_id: &str,
        alias: &str,
        max_budget: Cents,
    ) -> Result<LitellmTeam, KmsError> {
        let url = format!("{}/team/new", self.base);
        let body = TeamBudget {
            team_id,
            team_alias: Some(alias),
            max_budget: max_budget.as_dollars_f64(),
            budget_duration: None,
        };
        let answer = self.send(self.http.post(url).json(&body)).await?;
        serde_json::from_slice::<Row>(&answer)
            .ok()
            .and_then(Row::team)
            .ok_or_else(|| KmsError::Unavailable("unreadable /team/new answer".into()))
    }

    /// `POST /team/update {team_id, max_budget, budget_duration: null}`: set, never add.
    pub async fn set_max_budget(
        &self,
        team_id: &str,
        max_budget: Cents,
    ) -> Result<LitellmTeam, KmsError> {
        let url = format!("{}/team/update", self.base);
        let body = TeamBudget {
            team_id,
            team_alias: None,
            max_budget: max_budget.as_dollars_f64(),
            budget_duration: None,
        };
        let answer = self.send(self.http.post(url).json(&body)).await?;
        serde_json::from_slice::<Updated>(&answer)
            .ok()
            .and_then(|u| u.data.team())
            .ok_or_else(|| KmsError::Unavailable("unreadable /team/update answer".into()))
    }
}

impl LitellmTeam {
    /// The team as the organisation `id`'s quota holder (no budget: a quota of 0).
    fn into_org(self, id: &str) -> KmsOrg {
        KmsOrg {
            c_organization_id: id.to_owned(),
            l_team_id: self.team_id,
            quota: self.max_budget.unwrap_or(Cents(0)),
            usage: Some(self.spend),
        }
    }
}

impl Kms for LitellmClient {
    fn holder<'a>(&self, c_org: &'a str, team: Option<&'a str>) -> &'a str {
        team.unwrap_or(c_org)
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<KmsOrg, KmsError>> {
        Box::pin(async move { Ok(self.team_info(id).await?.into_org(id)) })
    }

    fn create<'a>(&'a self, id: &'a str, quota: Cents) -> BoxFuture<'a, Result<KmsOrg, KmsError>> {
        Box::pin(async move { Ok(self.create_team(id, id, quota).await?.into_org(id)) })
    }

    fn set_quota<'a>(
        &'a self,
        id: &'a str,
        quota: Cents,
    ) -> BoxFuture<'a, Result<KmsOrg, KmsError>> {
        Box::pin(async move { Ok(self.set_max_budget(id, quota).await?.into_org(id)) })
    }
}

/// LiteLLM's `error.message`; the raw text when the body is not its shape.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_rounds_up_to_the_cent_without_float_noise() {
        assert_eq!(spend_to_cents(0.0), Some(Cents(0)));
        assert_eq!(spend_to_cents(0.1 + 0.2), Some(Cents(30)));
        assert_eq!(spend_to_cents(1.15), Some(Cents(115)));
        assert_eq!(spend_to_cents(1.001), Some(Cents(101)));
        assert_eq!(spend_to_cents(12.345_678), Some(Cents(1235)));
        assert_eq!(spend_to_cents(-0.01), None);
        assert_eq!(spend_to_cents(f64::NAN), None);
        assert_eq!(spend_to_cents(f64::INFINITY), None);
    }

    #[test]
    fn error_messages_come_from_litellms_envelope() {
        let body = br#"{"error":{"message":"{'error': 'Team id = t already exists.'}","type":"invalid_request_error","param":null,"code":"400"}}"#;
        assert_eq!(
            error_message(body),
            "{'error': 'Team id = t already exists.'}"
        );
        assert_eq!(error_message(b"oops"), "oops");
    }
}
