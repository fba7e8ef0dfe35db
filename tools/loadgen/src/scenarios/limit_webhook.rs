//! `limit-webhook`: the billing benchmark, "limit webhook → `auto_recharged`".
//!
//! Setup (not measured, `setup_concurrency` at a time): for each of N organisations
//! `{prefix}-{i}`, `POST {billing}/api/organizations` (minimum 100, target 500, minimum
//! recharge 200) → 201, `POST …/{id}/payment-method` (`pm_card_visa`, default) → 200 and
//! `POST …/{id}/sync` → 200 with `organization.litellm_team_id`, all with `Bearer
//! {admin_token}`.
//!
//! Iteration (one step, `webhook`): `POST {billing}/webhooks/litellm/limit-exceeded` with a
//! `limit_exceeded` event for the next unused organisation's team (usage 520 over a limit of
//! 500), a fresh `x-webhook-id` and `x-webhook-signature: sha256=<hex HMAC-SHA256(secret,
//! body)>` → 200 `{"success":true,"action":"auto_recharged",…}`. Each organisation is used
//! once, so every iteration is a real charge (Stripe) and a quota raise (KMS); any other
//! action is a failure `action_<action>`.
//!
//! With an alert token (`--alert-token`, billing on a stock LiteLLM proxy), the event is
//! instead what LiteLLM 1.110 sends when a team's request is rejected over budget: the
//! unsigned `WebhookEvent` (`budget_crossed`, `event_group` `team`, spend 520 over a
//! `max_budget` of 500) posted to `/webhooks/litellm/budget?token=…`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use billing::views::OrganizationAnswer;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{bearer, exchange, parse_json, step, Fail};
use crate::report::{Failure, StepLog};
use crate::runner::Scenario;
use crate::target::local_endpoint;

/// The path of the limit webhook.
pub const WEBHOOK_PATH: &str = "/webhooks/litellm/limit-exceeded";
/// The path of LiteLLM's budget alerts.
pub const ALERT_PATH: &str = "/webhooks/litellm/budget";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
/// The header carrying the event id.
pub const EVENT_ID_HEADER: &str = "x-webhook-id";
/// The action every iteration must get.
pub const EXPECTED_ACTION: &str = "auto_recharged";
/// Spend reported by each event, dollars (over a limit of [`EVENT_LIMIT`]).
pub const EVENT_USAGE: u32 = 520;
/// Limit reported by each event, dollars.
pub const EVENT_LIMIT: u32 = 500;
/// Most organisations one run may create.
pub const MAX_ORGS: u64 = 1_000_000;

/// `sha256=<hex HMAC-SHA256(secret, body)>`, the value of `x-webhook-signature`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body of a `limit_exceeded` event for `team_id`: spend `usage` dollars over `limit`,
/// stamped `timestamp` (RFC 3339).
pub fn limit_event_body(team_id: &str, usage: u32, limit: u32, timestamp: &str) -> Vec<u8> {
    json!({
        "event_type": "limit_exceeded",
        "team_id": team_id,
        "current_usage": usage,
        "current_limit": limit,
        "exceeded_by": usage.saturating_sub(limit),
        "timestamp": timestamp,
    })
    .to_string()
    .into_bytes()
}

/// LiteLLM's `WebhookEvent` for a team whose request was rejected over budget.
pub fn alert_body(team_id: &str, usage: u32, limit: u32) -> Vec<u8> {
    json!({
        "spend": f64::from(usage), "max_budget": f64::from(limit), "soft_budget": null,
        "token": "bench", "customer_id": null, "user_id": null, "team_id": team_id,
        "team_alias": team_id, "organization_id": null, "user_email": null, "key_alias": null,
        "projected_exceeded_date": null, "projected_spend": null, "event_group": "team",
        "alert_emails": null, "event": "budget_crossed",
        "event_message": format!("Team Budget: Budget Crossed\n Total Budget:`{limit}.0`"),
    })
    .to_string()
    .into_bytes()
}

/// Now, as `2026-11-22T10:00:00Z`.
fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What the setup phase is given.
#[derive(Debug, Clone)]
pub struct LimitWebhookOptions {
    /// billing's base URL.
    pub billing: String,
    /// billing's `ADMIN_TOKEN`.
    pub admin_token: String,
    /// billing's `LITELLM_WEBHOOK_SECRET`.
    pub webhook_secret: String,
    /// Organisations to create (at least one per iteration, warm-up included).
    pub orgs: u64,
    /// Organisation ids are `{org_prefix}-{i}`.
    pub org_prefix: String,
    /// Organisations set up at a time.
    pub setup_concurrency: usize,
    /// Send LiteLLM's unsigned budget alerts with this token instead of signed limit events.
    pub alert_token: Option<String>,
}

/// What the setup phase did.
#[derive(Debug, Clone)]
pub struct SetupSummary {
    /// Organisations created, carded and synced.
    pub orgs: usize,
    /// Wall time of the setup.
    pub took: Duration,
    /// Organisations set up at a time.
    pub concurrency: usize,
}

impl std::fmt::Display for SetupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.took.as_secs_f64();
        let rate = if secs > 0.0 {
            self.orgs as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "setup (not measured): {} organisations created, carded and synced in {secs:.3} s \
             ({} at a time, {rate:.1} organisations/s)",
            self.orgs, self.concurrency
        )
    }
}

/// The `limit-webhook` scenario: built by [`LimitWebhook::setup`].
pub struct LimitWebhook {
    webhook_url: Url,
    secret: Vec<u8>,
    /// LiteLLM alerts instead of signed events (the URL carries the token).
    alerts: bool,
    /// The LiteLLM team of each organisation, in the order they are used.
    teams: Vec<String>,
    next: AtomicUsize,
}

/// One iteration's signed event, or `None` once every organisation has been used.
pub struct LimitInput(Option<SignedEvent>);

/// A signed limit event, ready to send.
#[derive(Debug, Clone)]
pub struct SignedEvent {
    /// The JSON body, sent as is.
    pub body: Vec<u8>,
    /// `sha256=<hex>` (none for a LiteLLM alert).
    pub signature: Option<HeaderValue>,
    /// The event id (none for a LiteLLM alert).
    pub event_id: Option<HeaderValue>,
}

/// billing stores its webhook answers as JSON and replays them, so they have no Rust type.
#[derive(Deserialize)]
struct WebhookAnswer {
    #[serde(default)]
    action: Option<String>,
}

/// The admin calls of the setup phase.
struct OrgApi {
    client: Client,
    base: String,
    admin: HeaderValue,
}

impl OrgApi {
    async fn call(&self, path: &str, body: Value, expected: StatusCode) -> anyhow::Result<Vec<u8>> {
        let url = local_endpoint(&self.base, path)?;
        let (status, answer) = exchange(
            self.client
                .post(url)
                .header(AUTHORIZATION, self.admin.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
        .await
        .map_err(|f| anyhow::anyhow!("POST {path}: {}: {}", f.kind, f.detail))?;
        if status != expected {
            let text: String = String::from_utf8_lossy(&answer).chars().take(300).collect();
            anyhow::bail!("POST {path} answered {status} (expected {expected}): {text}");
        }
        Ok(answer)
    }

    /// Create, card and sync one organisation; its LiteLLM team.
    async fn prepare_org(&self, id: &str) -> anyhow::Result<String> {
        self.call(
            "/api/organizations",
            json!({
                "c_organization_id": id,
                "minimum_balance": 100,
                "target_balance": 500,
                "minimum_recharge_amount": 200,
            }),
            StatusCode::CREATED,
        )
        .await?;
        self.call(
            &format!("/api/organizations/{id}/payment-method"),
            json!({ "payment_method_id": "pm_card_visa", "set_as_default": true }),
            StatusCode::OK,
        )
        .await?;
        let answer = self
            .call(
                &format!("/api/organizations/{id}/sync"),
                json!({}),
                StatusCode::OK,
            )
            .await?;
        let answer: OrganizationAnswer = parse_json(&answer)
            .map_err(|f| anyhow::anyhow!("sync of {id}: {}: {}", f.kind, f.detail))?;
        match answer.organization.litellm_team_id {
            Some(team) if !team.trim().is_empty() => Ok(team),
            _ => anyhow::bail!("sync of {id} returned no organization.litellm_team_id"),
        }
    }
}

/// Check an organisation id prefix (billing accepts `A-Z a-z 0-9 _ . : -`, 128 at most).
fn check_prefix(prefix: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !prefix.is_empty()
            && prefix.len() <= 100
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')),
        "--org-prefix must be 1-100 characters of A-Z a-z 0-9 _ . : -"
    );
    Ok(())
}

/// A fresh organisation id prefix: `bench-<8 hex digits>`.
pub fn random_prefix() -> String {
    let mut id = Uuid::new_v4().simple().to_string();
    id.truncate(8);
    format!("bench-{id}")
}

impl LimitWebhook {
    /// From the teams of organisations already set up (tests, or a caller's own setup).
    pub fn from_teams(
        billing: &str,
        webhook_secret: &str,
        teams: Vec<String>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!webhook_secret.is_empty(), "the webhook secret is empty");
        anyhow::ensure!(!teams.is_empty(), "no organisations to recharge");
        Ok(LimitWebhook {
            webhook_url: local_endpoint(billing, WEBHOOK_PATH)?,
            secret: webhook_secret.as_bytes().to_vec(),
            alerts: false,
            teams,
            next: AtomicUsize::new(0),
        })
    }

    /// Send LiteLLM's budget alerts with `token` instead of signed limit events.
    pub fn with_alert_token(mut self, billing: &str, token: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(!token.is_empty(), "the alert token is empty");
        let mut url = local_endpoint(billing, ALERT_PATH)?;
        url.query_pairs_mut().append_pair("token", token);
        self.webhook_url = url;
        self.alerts = true;
        Ok(self)
    }

    /// Set up `options.orgs` organisations through billing's org API (not measured), then
    /// build the scenario over their teams.
    pub async fn setup(
        client: &Client,
        options: &LimitWebhookOptions,
    ) -> anyhow::Result<(Self, SetupSummary)> {
        anyhow::ensure!(
            (1..=MAX_ORGS).contains(&options.orgs),
            "--orgs must be between 1 and {MAX_ORGS}"
        );
        anyhow::ensure!(
            options.setup_concurrency >= 1,
            "--setup-concurrency must be at least 1"
        );
        anyhow::ensure!(
            !options.webhook_secret.is_empty(),
            "the webhook secret is empty"
        );
        check_prefix(&options.org_prefix)?;
        // Check every URL before the first request.
        local_endpoint(&options.billing, WEBHOOK_PATH)?;
        local_endpoint(&options.billing, "/api/organizations")?;
        let orgs = usize::try_from(options.orgs)?;
        let api = Arc::new(OrgApi {
            client: client.clone(),
            base: options.billing.clone(),
            admin: bearer(&options.admin_token)?,
        });
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..options.setup_concurrency.min(orgs) {
            let api = api.clone();
            let next = next.clone();
            let prefix = options.org_prefix.clone();
            set.spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= orgs {
                        return Ok(done);
                    }
                    let id = format!("{prefix}-{i}");
                    let team = api
                        .prepare_org(&id)
                        .await
                        .map_err(|e| e.context(format!("setting up organisation {id}")))?;
                    done.push((i, team));
                }
            });
        }
        let mut teams = vec![String::new(); orgs];
        let mut first_error: Option<anyhow::Error> = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(done)) => {
                    for (i, team) in done {
                        teams[i] = team;
                    }
                }
                Ok(Err(e)) => {
                    if first_error.is_none() {
                        // Stop the other workers: the run cannot go on.
                        next.store(orgs, Ordering::Relaxed);
                        first_error = Some(e);
                    }
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => {
                    first_error.get_or_insert_with(|| anyhow::anyhow!("setup task failed: {e}"));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e.context("the setup phase failed"));
        }
        let summary = SetupSummary {
            orgs,
            took: started.elapsed(),
            concurrency: options.setup_concurrency.min(orgs),
        };
        let mut scenario = Self::from_teams(&options.billing, &options.webhook_secret, teams)?;
        if let Some(token) = &options.alert_token {
            scenario = scenario.with_alert_token(&options.billing, token)?;
        }
        Ok((scenario, summary))
    }

    /// A signed event for `team_id` with a fresh event id, or LiteLLM's alert for it.
    pub fn signed_event(&self, team_id: &str) -> SignedEvent {
        if self.alerts {
            return SignedEvent {
                body: alert_body(team_id, EVENT_USAGE, EVENT_LIMIT),
                signature: None,
                event_id: None,
            };
        }
        let body = limit_event_body(team_id, EVENT_USAGE, EVENT_LIMIT, &now_rfc3339());
        let signature = HeaderValue::from_str(&sign(&self.secret, &body))
            .expect("sha256=<hex> is a header value");
        let event_id = HeaderValue::from_str(&format!("bench-{}", Uuid::new_v4()))
            .expect("a UUID is a header value");
        SignedEvent {
            body,
            signature: Some(signature),
            event_id: Some(event_id),
        }
    }

    /// Organisations not used yet.
    pub fn remaining(&self) -> usize {
        self.teams
            .len()
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }
}

/// The failure of an answered event: `status_<code>` or `action_<action>`, with the body.
fn check_answer(status: StatusCode, body: &[u8]) -> Result<(), Fail> {
    let text = || String::from_utf8_lossy(body).into_owned();
    let action = serde_json::from_slice::<WebhookAnswer>(body)
        .ok()
        .and_then(|a| a.action);
    if status != StatusCode::OK {
        let detail = match &action {
            Some(action) => format!("action {action}: {}", text()),
            None => text(),
        };
        return Err(Fail::new(format!("status_{}", status.as_u16()), detail));
    }
    match action.as_deref() {
        Some(EXPECTED_ACTION) => Ok(()),
        Some(other) => {
            let kind: String = other
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            Err(Fail::new(
                format!("action_{kind}"),
                format!("action {other}: {}", text()),
            ))
        }
        None => Err(Fail::new("no_action", text())),
    }
}

impl Scenario for LimitWebhook {
    type Input = LimitInput;

    fn name(&self) -> &'static str {
        "limit-webhook"
    }

    fn steps(&self) -> &'static [&'static str] {
        &["webhook"]
    }

    fn prepare(&self, _seq: u64) -> LimitInput {
        // Warm-up and measured iterations share the organisations: each is used once.
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        LimitInput(self.teams.get(i).map(|team| self.signed_event(team)))
    }

    async fn iterate(
        &self,
        client: &Client,
        input: LimitInput,
        log: &mut StepLog,
    ) -> Result<(), Failure> {
        step(log, 0, async {
            let Some(event) = input.0 else {
                return Err(Fail::new(
                    "no_org_left",
                    "every organisation set up has been recharged (raise --orgs)",
                ));
            };
            let mut request = client
                .post(self.webhook_url.clone())
                .header(CONTENT_TYPE, "application/json");
            if let Some(signature) = event.signature {
                request = request.header(HeaderName::from_static(SIGNATURE_HEADER), signature);
            }
            if let Some(id) = event.event_id {
                request = request.header(HeaderName::from_static(EVENT_ID_HEADER), id);
            }
            let (status, body) = exchange(request.body(event.body)).await?;
            check_answer(status, &body)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    /// HMAC-SHA256 from its definition (RFC 2104), on SHA-256 alone.
    fn hmac_by_hand(key: &[u8], message: &[u8]) -> String {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        hex::encode(outer)
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_raw_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let body = limit_event_body("team-1", 520, 500, "2026-11-22T10:00:00Z");
        for secret in ["s", "bench-webhook-secret", &"k".repeat(100)] {
            let expected = format!("sha256={}", hmac_by_hand(secret.as_bytes(), &body));
            assert_eq!(
                sign(secret.as_bytes(), &body),
                expected,
                "secret {secret:?}"
            );
        }
    }

    #[test]
    fn billing_accepts_the_signature() {
        let body = limit_event_body("team-1", 520, 500, "2026-11-22T10:00:00Z");
        let signature = sign(b"secret-1", &body);
        assert!(tollgate_domain::signature::verify_sha256(
            b"secret-1",
            &body,
            &signature
        ));
        assert!(!tollgate_domain::signature::verify_sha256(
            b"secret-2",
            &body,
            &signature
        ));
        let mut tampered = body.clone();
        tampered[5] ^= 1;
        assert!(!tollgate_domain::signature::verify_sha256(
            b"secret-1",
            &tampered,
            &signature
        ));
    }

    #[test]
    fn the_body_is_a_limit_exceeded_event() {
        let body = limit_event_body("l_team_42", 520, 500, "2026-11-22T10:00:00Z");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            json!({
                "event_type": "limit_exceeded",
                "team_id": "l_team_42",
                "current_usage": 520,
                "current_limit": 500,
                "exceeded_by": 20,
                "timestamp": "2026-11-22T10:00:00Z",
            })
        );
    }

    #[test]
    fn each_team_is_used_once_with_a_fresh_event_id() {
        let teams = vec!["t0".to_owned(), "t1".to_owned(), "t2".to_owned()];
        let scenario = LimitWebhook::from_teams("http://127.0.0.1:9", "secret", teams).unwrap();
        let mut seen_ids = std::collections::HashSet::new();
        for (seq, team) in ["t0", "t1", "t2"].into_iter().enumerate() {
            let input = scenario
                .prepare(seq as u64)
                .0
                .expect("an organisation is left");
            let value: Value = serde_json::from_slice(&input.body).unwrap();
            assert_eq!(value["team_id"], team);
            assert!(
                chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str().unwrap()).is_ok()
            );
            assert_eq!(
                input.signature.unwrap().to_str().unwrap(),
                sign(b"secret", &input.body)
            );
            assert!(seen_ids.insert(input.event_id.unwrap().to_str().unwrap().to_owned()));
        }
        assert_eq!(scenario.remaining(), 0);
        assert!(scenario.prepare(0).0.is_none());
    }

    #[test]
    fn alerts_are_litellms_unsigned_team_events_to_the_token_url() {
        let scenario = LimitWebhook::from_teams("http://127.0.0.1:9", "secret", vec!["t0".into()])
            .unwrap()
            .with_alert_token("http://127.0.0.1:9", "tok en")
            .unwrap();
        assert_eq!(
            scenario.webhook_url.as_str(),
            "http://127.0.0.1:9/webhooks/litellm/budget?token=tok+en"
        );
        let input = scenario.prepare(0).0.unwrap();
        assert!(input.signature.is_none() && input.event_id.is_none());
        let value: Value = serde_json::from_slice(&input.body).unwrap();
        assert_eq!(value["team_id"], "t0");
        assert_eq!(value["event"], "budget_crossed");
        assert_eq!(value["event_group"], "team");
        assert_eq!(value["spend"], 520.0);
    }

    #[test]
    fn only_auto_recharged_succeeds() {
        let ok = br#"{"success":true,"action":"auto_recharged","recharge":{}}"#;
        assert!(check_answer(StatusCode::OK, ok).is_ok());
        let none = br#"{"success":true,"action":"no_action_needed"}"#;
        let fail = check_answer(StatusCode::OK, none).unwrap_err();
        assert_eq!(fail.kind, "action_no_action_needed");
        assert!(fail.detail.contains("action no_action_needed"), "{fail:?}");
        let fail = check_answer(StatusCode::BAD_GATEWAY, br#"{"action":"refunded"}"#).unwrap_err();
        assert_eq!(fail.kind, "status_502");
        assert!(fail.detail.contains("action refunded"), "{fail:?}");
        let fail = check_answer(StatusCode::OK, b"not json").unwrap_err();
        assert_eq!(fail.kind, "no_action");
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("bench-1a2b").is_ok());
        assert!(check_prefix(&random_prefix()).is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(101)] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
