//! billing under test: the real app on port 0 with its own database, a KMS simulator whose
//! limit webhooks point at the app, and a fresh localstripe.
#![allow(dead_code)]

use std::time::Duration;

use billing::settings::{BillingSettings, QuotaBackend, Settings};
use billing::views::{EventAnswer, OrganizationAnswer, OrganizationView, PageOf, RechargeView};
use kms_sim::SimHandle;
use reqwest::Response;
use serde_json::{json, Value};
use tollgate_domain::money::Cents;
use tollgate_domain::signature::sign_sha256;
use tollgate_testkit::{
    common_settings, kms_sim, LocalStripe, TestApp, ADMIN_TOKEN, WEBHOOK_SECRET,
};

/// The Stripe key used against localstripe.
pub const STRIPE_KEY: &str = "sk_test_tollgate";
/// The Supabase project's JWT secret (HS256 access tokens of organisation members).
pub const JWT_SECRET: &str = "billing-members-jwt-secret-with-32-chars!";

/// `dollars` as billing's money type (tests write amounts as the API shows them).
pub fn usd(dollars: f64) -> Cents {
    Cents((dollars * 100.0).round() as i64)
}

/// An event answer (or the one error body, which reads as one with `error` set), with its
/// status.
pub async fn event_answer(r: Response) -> (u16, EventAnswer) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: not an event answer: {e}: {text}"));
    (status, body)
}

/// A Supabase access token for `sub`, valid for 10 minutes, signed with [`JWT_SECRET`].
pub fn user_jwt(sub: &str) -> String {
    jwt(
        json!({ "sub": sub, "aud": "authenticated", "role": "authenticated",
                "exp": chrono::Utc::now().timestamp() + 600 }),
    )
}

/// A JWT with these claims, signed with [`JWT_SECRET`].
pub fn jwt(claims: Value) -> String {
    jwt_signed(claims, JWT_SECRET)
}

/// A JWT with these claims, signed with `secret`.
pub fn jwt_signed(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The token LiteLLM's alerts carry in their URL.
pub const ALERT_TOKEN: &str = "alert-token-0123456789abcdef";

/// The Stripe webhook secret.
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_test_tollgate";

/// Test settings: quick KMS retries, reconcile only at start-up.
pub fn billing_settings(kms: &str, stripe: &str) -> BillingSettings {
    BillingSettings {
        quota_backend: QuotaBackend::Kms,
        kms_base_url: kms.into(),
        litellm_base_url: None,
        litellm_master_key: None,
        litellm_webhook_secret: WEBHOOK_SECRET.into(),
        litellm_alert_token: Some(ALERT_TOKEN.into()),
        poll_interval_secs: 0,
        litellm_alert_replay_secs: 300,
        alert_webhook_url: None,
        alert_timeout_ms: 2_000,
        requires_action_expiry_secs: 86_400,
        supabase_jwt_secret: Some(JWT_SECRET.into()),
        supabase_url: None,
        jwks_cache_secs: 600,
        stripe_secret_key: STRIPE_KEY.into(),
        stripe_api_base: stripe.into(),
        stripe_webhook_secret: Some(STRIPE_WEBHOOK_SECRET.into()),
        stripe_timeout_ms: 5_000,
        kms_timeout_ms: 500,
        kms_attempts: 3,
        kms_backoff_base_ms: 20,
        recharge_fee_percent: "0".into(),
        recharge_fee_fixed: "0".into(),
        recharge_currency: "usd".into(),
        webhook_answer_ms: 4_500,
        webhook_answer_cache_mb: 16,
        reconcile_interval_secs: 3_600,
        reconcile_grace_secs: 60,
    }
}

/// The app and its neighbours.
pub struct Env {
    pub app: TestApp,
    /// Receives the operator alerts.
    pub alerts: AlertReceiver,
    pub kms: SimHandle,
    pub stripe: LocalStripe,
    pub http: reqwest::Client,
    /// The settings the app runs with (a second instance takes them too).
    pub settings: BillingSettings,
}

/// A second billing instance on the same database.
pub struct Replica {
    pub base_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// billing with default test settings.
pub async fn spawn() -> Env {
    spawn_with(|_| {}).await
}

/// billing with settings adjusted by `tweak`.
pub async fn spawn_with(tweak: impl FnOnce(&mut BillingSettings)) -> Env {
    let (kms, stripe) = tokio::join!(kms_sim(None), LocalStripe::start());
    let stripe = stripe.expect("localstripe starts");
    let alerts = AlertReceiver::start();
    let mut b = billing_settings(kms.base_url(), &stripe.base_url());
    b.alert_webhook_url = Some(alerts.url());
    tweak(&mut b);
    let settings = b.clone();
    let app = TestApp::spawn(|db_url| async move {
        billing::startup::build(Settings::new(common_settings(&db_url), b).expect("valid settings"))
            .await
    })
    .await
    .expect("billing starts");
    kms.set_webhook_url(Some(app.url("/webhooks/litellm/limit-exceeded")));
    Env {
        app,
        alerts,
        kms,
        stripe,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        settings,
    }
}

impl Env {
    /// Another billing instance with the same settings on the same database.
    pub async fn replica(&self) -> Replica {
        let settings = Settings::new(common_settings(self.app.db.url()), self.settings.clone())
            .expect("valid settings");
        let app = billing::startup::build(settings)
            .await
            .expect("the replica starts");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Replica { base_url, handle }
    }

    /// The LiteLLM alert URL with `token`.
    pub fn alert_url(&self, token: &str) -> String {
        self.app
            .url(&format!("/webhooks/litellm/budget?token={token}"))
    }

    /// POST an alert body with `token`.
    pub async fn send_alert(&self, token: &str, body: &Value) -> (u16, EventAnswer) {
        let r = self
            .http
            .post(self.alert_url(token))
            .json(body)
            .send()
            .await
            .unwrap();
        event_answer(r).await
    }

    pub async fn admin_get(&self, path: &str) -> Response {
        self.http
            .get(self.app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as the operator, answered 200 with billing's type `T`.
    pub async fn admin_read<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        tollgate_testkit::answer(self.admin_get(path).await, 200).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `method path` with `Authorization: Bearer <token>` and an optional JSON body.
    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    pub async fn admin_patch(&self, path: &str, body: Value) -> Response {
        self.http
            .patch(self.app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Create an organisation (the seed's settings unless `extra` overrides them).
    pub async fn create_org(&self, id: &str, extra: Value) -> OrganizationAnswer {
        let mut body = json!({
            "c_organization_id": id,
            "minimum_balance": 100,
            "target_balance": 500,
            "auto_recharge_enabled": true,
            "minimum_recharge_amount": 200,
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.admin_post("/api/organizations", body).await;
        tollgate_testkit::answer(r, 201).await
    }

    /// Save `pm` as the organisation's default card.
    pub async fn add_card(&self, id: &str, pm: &str) -> OrganizationAnswer {
        let r = self
            .admin_post(
                &format!("/api/organizations/{id}/payment-method"),
                json!({ "payment_method_id": pm, "set_as_default": true }),
            )
            .await;
        tollgate_testkit::answer(r, 200).await
    }

    /// Sync to the KMS; returns the team id.
    pub async fn sync(&self, id: &str) -> String {
        let r = self
            .admin_post(&format!("/api/organizations/{id}/sync"), json!({}))
            .await;
        let body: OrganizationAnswer = tollgate_testkit::answer(r, 200).await;
        body.organization
            .litellm_team_id
            .expect("a team once synced")
    }

    /// An organisation with a card, synced: returns its team id.
    pub async fn ready_org(&self, id: &str, pm: &str, extra: Value) -> String {
        self.create_org(id, extra).await;
        self.add_card(id, pm).await;
        self.sync(id).await
    }

    /// [`Env::ready_org`] with `pm_card_visa`, taking owned values (for `join_all`).
    pub async fn ready_org_owned(&self, id: String, extra: Value) -> String {
        self.ready_org(&id, "pm_card_visa", extra).await
    }

    /// A payment method for a raw card number (3DS test cards).
    pub async fn card_pm(&self, number: &str) -> String {
        let r: Value = self
            .http
            .post(format!("{}/v1/payment_methods", self.stripe.base_url()))
            .basic_auth(STRIPE_KEY, Some(""))
            .form(&[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2030"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["id"].as_str().expect("payment method id").to_owned()
    }

    /// The documented limit event body.
    pub fn limit_body(team: &str, usage: f64) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event_type": "limit_exceeded",
            "team_id": team,
            "current_usage": usage,
            "current_limit": 500,
            "exceeded_by": (usage - 500.0).max(0.0),
            "timestamp": "2026-11-22T10:00:00Z",
        }))
        .unwrap()
    }

    /// POST a limit webhook, signed correctly.
    pub async fn send_limit(
        &self,
        team: &str,
        usage: f64,
        webhook_id: Option<&str>,
    ) -> (u16, EventAnswer) {
        let body = Self::limit_body(team, usage);
        let sig = sign_sha256(WEBHOOK_SECRET.as_bytes(), &body);
        self.send_raw(body, Some(&sig), webhook_id).await
    }

    /// POST raw bytes to the limit webhook with the given signature header.
    pub async fn send_raw(
        &self,
        body: Vec<u8>,
        signature: Option<&str>,
        webhook_id: Option<&str>,
    ) -> (u16, EventAnswer) {
        let mut req = self
            .http
            .post(self.app.url("/webhooks/litellm/limit-exceeded"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("x-webhook-signature", sig);
        }
        if let Some(id) = webhook_id {
            req = req.header("x-webhook-id", id);
        }
        event_answer(req.send().await.unwrap()).await
    }

    /// Every PaymentIntent localstripe holds.
    pub async fn payment_intents(&self) -> Vec<Value> {
        stripe_payment_intents(&self.http, &self.stripe.base_url()).await
    }

    /// Succeeded PaymentIntents (charges that took money).
    pub async fn charges(&self) -> usize {
        self.payment_intents()
            .await
            .iter()
            .filter(|p| p["status"] == "succeeded")
            .count()
    }

    /// Refunds localstripe holds.
    pub async fn refunds(&self) -> Vec<Value> {
        let r: Value = self
            .http
            .get(format!("{}/v1/refunds?limit=100", self.stripe.base_url()))
            .basic_auth(STRIPE_KEY, Some(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["data"].as_array().cloned().unwrap_or_default()
    }

    /// The KMS quota of `id` in cents.
    pub fn kms_quota(&self, id: &str) -> Option<i64> {
        self.kms.organization(id).map(|o| o.quota_cents)
    }

    /// The organisation as the API shows it.
    pub async fn org(&self, id: &str) -> OrganizationView {
        let r = self.admin_get(&format!("/api/organizations/{id}")).await;
        tollgate_testkit::answer::<OrganizationAnswer>(r, 200)
            .await
            .organization
    }

    /// Recharge history items, newest first.
    pub async fn history(&self, id: &str) -> Vec<RechargeView> {
        let r = self
            .admin_get(&format!(
                "/api/organizations/{id}/recharge-history?page_size=100"
            ))
            .await;
        tollgate_testkit::answer::<PageOf<RechargeView>>(r, 200)
            .await
            .items
    }

    /// Count rows of a billing table.
    pub async fn count(&self, table: &str) -> i64 {
        count_rows(self.app.db.url(), table).await
    }
}

/// LiteLLM 1.110's `WebhookEvent` for `team` (as litellm-sim sends it).
pub fn alert_body(team: &str, event: &str, event_group: &str, spend: f64) -> Value {
    json!({
        "spend": spend, "max_budget": 0.0, "soft_budget": null, "token": "hashed-key",
        "customer_id": null, "user_id": null, "team_id": team, "team_alias": team,
        "organization_id": null, "user_email": null, "key_alias": null,
        "projected_exceeded_date": null, "projected_spend": null,
        "event_group": event_group, "alert_emails": null, "event": event,
        "event_message": "Team Budget: Budget Crossed\n Total Budget:`0.0`",
    })
}

/// Every PaymentIntent of a localstripe, paged.
pub async fn stripe_payment_intents(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/payment_intents?limit=100");
        if let Some(a) = &after {
            url.push_str(&format!("&starting_after={a}"));
        }
        let page: Value = http
            .get(url)
            .basic_auth(STRIPE_KEY, Some(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|p| p["id"].as_str())
            .map(str::to_owned);
        all.extend(data);
        if page["has_more"] != true || after.is_none() {
            return all;
        }
    }
}

/// `SELECT count(*) FROM table` on `db_url`.
pub async fn count_rows(db_url: &str, table: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap();
    row.get::<_, i64>(0)
}

/// A Slack-like receiver of operator alerts: records every JSON body; answers 500 to the
/// first `fail_first` posts.
pub struct AlertReceiver {
    addr: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    fail_first: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

impl AlertReceiver {
    /// Listen on a free port.
    pub fn start() -> Self {
        use actix_web::{web, App, HttpResponse, HttpServer};
        use std::sync::atomic::Ordering;
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let fail_first = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, f) = (received.clone(), fail_first.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            let (r, f) = (r.clone(), f.clone());
            App::new().default_service(web::to(move |body: web::Json<Value>| {
                let (r, f) = (r.clone(), f.clone());
                async move {
                    let failing = f
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        return HttpResponse::InternalServerError().finish();
                    }
                    r.lock().unwrap().push(body.into_inner());
                    HttpResponse::Ok().body("ok")
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            addr,
            received,
            fail_first,
            handle,
        }
    }

    /// Where to post.
    pub fn url(&self) -> String {
        format!("http://{}/alerts", self.addr)
    }

    /// Answer 500 to the next `n` posts.
    pub fn fail_next(&self, n: usize) {
        self.fail_first
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Alerts received so far.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Wait until an alert of `event` arrived (or `within` passes); every alert so far.
    pub async fn wait_for(&self, event: &str, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.iter().any(|a| a["event"] == event) || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for AlertReceiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}
