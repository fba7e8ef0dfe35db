//! Organisation operations behind the org API: create, read, change settings, save a card,
//! sync to the KMS, and manual recharges (the same pipeline as automatic ones, outside the
//! daily cap).

use std::sync::Arc;

use diesel_async::AsyncConnection;
use serde::Deserialize;
use tollgate_domain::money::Cents;
use tollgate_stripe::{AttachedPaymentMethod, StripeError};
use tollgate_web::ApiError;

use crate::access::{authorize, Caller, Need, OrgRole};
use crate::kms::{with_retries, KmsError, KmsOrg};
use crate::month_usage::{self, Month, MonthUsage};
use crate::recharge::{Finished, PipelineError, Recharger, Trigger};
use crate::settings::QuotaBackend;
use crate::store::audit::{self, AuditRow};
use crate::store::events::{self, EventRow};
use crate::store::members;
use crate::store::orgs::{self, NewOrg, OrgChanges, OrgRow};
use crate::store::poller::{self, PollerRun};
use crate::store::recharges::{self, OrgFigures, RechargeRow};
use crate::store::usage::{self, UsageSource};
use crate::store::Page;

/// Largest amount accepted anywhere in the org API: $1,000,000.
pub const MAX_AMOUNT: Cents = Cents(100_000_000);
/// Largest daily cap.
pub const MAX_DAILY_RECHARGES: i32 = 1_000;

/// `POST /api/organizations` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// The caller's organisation id.
    #[schema(pattern = r"^[A-Za-z0-9_.:-]{1,128}$", example = "acme")]
    pub c_organization_id: String,
    /// Default $100.
    pub minimum_balance: Option<Cents>,
    /// Default $1000.
    pub target_balance: Option<Cents>,
    /// Default true.
    pub auto_recharge_enabled: Option<bool>,
    /// Default 5.
    pub max_daily_recharges: Option<i32>,
    /// Default $100.
    pub minimum_recharge_amount: Option<Cents>,
    /// Cap on a UTC month's automatic credit; default none.
    pub max_monthly_recharge_amount: Option<Cents>,
    /// Adopt this existing LiteLLM team (`QUOTA_BACKEND=litellm` only); by default sync
    /// creates a team whose id is the organisation's.
    pub litellm_team_id: Option<String>,
}

/// `PATCH /api/organizations/{id}` body: only the fields sent change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    /// See [`CreateOrg`].
    pub minimum_balance: Option<Cents>,
    /// See [`CreateOrg`].
    pub target_balance: Option<Cents>,
    /// See [`CreateOrg`].
    pub auto_recharge_enabled: Option<bool>,
    /// See [`CreateOrg`].
    pub max_daily_recharges: Option<i32>,
    /// See [`CreateOrg`].
    pub minimum_recharge_amount: Option<Cents>,
    /// See [`CreateOrg`]; `null` removes the cap.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Cents>)]
    pub max_monthly_recharge_amount: Option<Option<Cents>>,
}

/// A field that may be sent as `null`: absent → `None`, `null` → `Some(None)`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/organizations/{id}/payment-method` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodInput {
    /// A Stripe payment method (`pm_…`).
    pub payment_method_id: String,
    /// Make it the card charged off-session (default true).
    #[serde(default = "yes")]
    pub set_as_default: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/organizations/{id}/recharge` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RechargeInput {
    /// Dollars to credit (the fee is added on top).
    pub amount: Cents,
}

/// An organisation with its money figures, as one caller sees it.
pub struct OrgView {
    /// The row.
    pub org: OrgRow,
    /// Credit delivered and on its way, this month's automatic credit.
    pub figures: OrgFigures,
    /// The caller's standing in it.
    pub role: OrgRole,
}

/// A page of rows and the total.
pub struct Paged<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows in all.
    pub total: i64,
}

/// Validate a LiteLLM team id to adopt: 1-255 printable ASCII characters.
fn check_team_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_team_id",
            "litellm_team_id must be 1-255 printable ASCII characters",
        ));
    }
    Ok(())
}

fn team_taken(team: &str) -> ApiError {
    ApiError::Conflict {
        code: "team_taken",
        message: format!("LiteLLM team {team} belongs to another organisation"),
    }
}

/// Validate an organisation id: 1-128 of `[A-Za-z0-9_.:-]`.
pub fn check_org_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_organization_id",
            "c_organization_id must be 1-128 characters of A-Z a-z 0-9 _ . : -",
        ))
    }
}

fn check_amount(name: &str, value: Cents) -> Result<(), ApiError> {
    if value.0 < 0 {
        return Err(ApiError::bad_request(
            "invalid_amount",
            format!("{name} must not be negative"),
        ));
    }
    if value > MAX_AMOUNT {
        return Err(ApiError::bad_request(
            "invalid_amount",
            format!("{name} must be at most {MAX_AMOUNT}"),
        ));
    }
    Ok(())
}

fn check_settings(
    min: Cents,
    target: Cents,
    min_recharge: Cents,
    daily: i32,
    monthly: Option<Cents>,
) -> Result<(), ApiError> {
    if let Some(monthly) = monthly {
        check_amount("max_monthly_recharge_amount", monthly)?;
    }
    check_amount("minimum_balance", min)?;
    check_amount("target_balance", target)?;
    check_amount("minimum_recharge_amount", min_recharge)?;
    if min > target {
        return Err(ApiError::bad_request(
            "invalid_settings",
            "minimum_balance must not exceed target_balance",
        ));
    }
    if !(0..=MAX_DAILY_RECHARGES).contains(&daily) {
        return Err(ApiError::bad_request(
            "invalid_settings",
            format!("max_daily_recharges must be 0-{MAX_DAILY_RECHARGES}"),
        ));
    }
    Ok(())
}

fn stripe_error(e: StripeError) -> ApiError {
    match e {
        StripeError::Card { code, message } => {
            ApiError::bad_request("payment_method_declined", format!("{message} ({code})"))
        }
        StripeError::Rejected { code, message, .. } => ApiError::bad_request(
            "invalid_payment_method",
            match code {
                Some(code) => format!("{message} ({code})"),
                None => message,
            },
        ),
        StripeError::Unavailable(why) => {
            ApiError::Unavailable(format!("payment provider unavailable: {why}"))
        }
    }
}

fn kms_error(e: KmsError) -> ApiError {
    ApiError::Unavailable(format!("key management service: {e}"))
}

/// The organisation operations.
pub struct Organizations {
    recharger: Arc<Recharger>,
    backend: QuotaBackend,
}

impl Organizations {
    /// Wire them for the configured quota backend.
    pub fn new(recharger: Arc<Recharger>, backend: QuotaBackend) -> Self {
        Self { recharger, backend }
    }

    /// The quota backend.
    pub fn backend(&self) -> QuotaBackend {
        self.backend
    }

    /// The organisation and its figures read in one snapshot (a delivery commits the credit
    /// and the confirmed quota together; a view never shows one without the other).
    async fn view(&self, org: OrgRow, role: OrgRole) -> Result<OrgView, ApiError> {
        let mut conn = self.recharger.pool().get().await?;
        let id = org.id;
        let (org, figures) = conn
            .build_transaction()
            .read_only()
            .repeatable_read()
            .run(async move |conn| {
                let org = orgs::find_id(conn, id).await?;
                let figures = recharges::figures(conn, id).await?;
                Ok::<_, diesel::result::Error>((org, figures))
            })
            .await?;
        Ok(OrgView { org, figures, role })
    }

    /// The organisation `c_org` if `caller` may do `need` with it (404 / 403 otherwise).
    pub async fn authorize(
        &self,
        caller: &Caller,
        c_org: &str,
        need: Need,
    ) -> Result<(OrgRow, OrgRole), ApiError> {
        let mut conn = self.recharger.pool().get().await?;
        authorize(&mut conn, caller, c_org, need).await
    }

    /// A page of organisations, newest first, with their figures: every one for the
    /// operator, a user's own (with their role) for a user.
    pub async fn list(&self, caller: &Caller, page: Page) -> Result<Paged<OrgView>, ApiError> {
        let mut conn = self.recharger.pool().get().await?;
        let (rows, total): (Vec<(OrgRow, OrgRole)>, i64) = match caller {
            Caller::Operator => {
                let (rows, total) = orgs::page(&mut conn, page).await?;
                let rows = rows.into_iter().map(|o| (o, OrgRole::Operator)).collect();
                (rows, total)
            }
            Caller::User(user) => {
                let (rows, total) = members::page_for_user(&mut conn, user.0, page).await?;
                let rows = rows.into_iter().map(|(o, r)| (o, r.into())).collect();
                (rows, total)
            }
        };
        let ids: Vec<i64> = rows.iter().map(|(o, _)| o.id).collect();
        let figures = recharges::figures_by_org(&mut conn, &ids).await?;
        let items = rows
            .into_iter()
            .map(|(org, role)| OrgView {
                figures: figures.get(&org.id).copied().unwrap_or_default(),
                org,
                role,
            })
            .collect();
        Ok(Paged { items, total })
    }

    /// A page of the organisation's recharges, newest first.
    pub async fn recharge_history(
        &self,
        caller: &Caller,
        c_org: &str,
        page: Page,
    ) -> Result<Paged<RechargeRow>, ApiError> {
        let (org, _) = self.authorize(caller, c_org, Need::Read).await?;
        let mut conn = self.recharger.pool().get().await?;
        let (items, total) = recharges::page(&mut conn, org.id, page).await?;
        Ok(Paged { items, total })
    }

    /// A page of the organisation's webhook events, newest first.
    pub async fn webhook_events(
        &self,
        caller: &Caller,
        c_org: &str,
        page: Page,
    ) -> Result<Paged<EventRow>, ApiError> {
        let (org, _) = self.authorize(caller, c_org, Need::Read).await?;
        let mut conn = self.recharger.pool().get().await?;
        let (items, total) = events::page(&mut conn, org.id, page).await?;
        Ok(Paged { items, total })
    }

    /// A page of the organisation's audit trail, newest first (admins and the operator).
    pub async fn audit(
        &self,
        caller: &Caller,
        c_org: &str,
        page: Page,
    ) -> Result<Paged<AuditRow>, ApiError> {
        let (org, _) = self.authorize(caller, c_org, Need::Write).await?;
        let mut conn = self.recharger.pool().get().await?;
        let (items, total) = audit::page(&mut conn, org.id, page).await?;
        Ok(Paged { items, total })
    }

    /// The organisation's figures for a UTC month (`YYYY-MM`; default: this month).
    pub async fn month_usage(
        &self,
        caller: &Caller,
        c_org: &str,
        month: Option<&str>,
    ) -> Result<MonthUsage, ApiError> {
        let now = chrono::Utc::now();
        let month = Month::parse(month, now)?;
        let (org, _) = self.authorize(caller, c_org, Need::Read).await?;
        let mut conn = self.recharger.pool().get().await?;
        month_usage::of(&mut conn, org.id, month, now).await
    }

    /// The poller's newest pass.
    pub async fn last_poll(&self) -> Result<Option<PollerRun>, ApiError> {
        let mut conn = self.recharger.pool().get().await?;
        Ok(poller::latest(&mut conn).await?)
    }

    /// Create; 409 when it exists, or when the LiteLLM team to adopt is another's.
    pub async fn create(&self, input: CreateOrg) -> Result<OrgView, ApiError> {
        check_org_id(&input.c_organization_id)?;
        if let Some(team) = &input.litellm_team_id {
            if self.backend != QuotaBackend::Litellm {
                return Err(ApiError::bad_request(
                    "team_adoption_unsupported",
                    "litellm_team_id is taken only with QUOTA_BACKEND=litellm (the KMS names the team)",
                ));
            }
            check_team_id(team)?;
        }
        let new = NewOrg {
            c_organization_id: input.c_organization_id,
            minimum_balance_cents: input.minimum_balance.unwrap_or(Cents::from_dollars(100)).0,
            target_balance_cents: input.target_balance.unwrap_or(Cents::from_dollars(1000)).0,
            auto_recharge_enabled: input.auto_recharge_enabled.unwrap_or(true),
            max_daily_recharges: input.max_daily_recharges.unwrap_or(5),
            minimum_recharge_amount_cents: input
                .minimum_recharge_amount
                .unwrap_or(Cents::from_dollars(100))
                .0,
            max_monthly_recharge_cents: input.max_monthly_recharge_amount.map(|c| c.0),
            litellm_team_id: input.litellm_team_id,
        };
        check_settings(
            Cents(new.minimum_balance_cents),
            Cents(new.target_balance_cents),
            Cents(new.minimum_recharge_amount_cents),
            new.max_daily_recharges,
            new.max_monthly_recharge_cents.map(Cents),
        )?;
        let mut conn = self.recharger.pool().get().await?;
        let inserted = match orgs::insert(&mut conn, &new).await {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                return Err(team_taken(
                    new.litellm_team_id.as_deref().unwrap_or_default(),
                ))
            }
            other => other?,
        };
        let org = inserted.ok_or_else(|| ApiError::Conflict {
            code: "organization_exists",
            message: format!("organisation {} exists", new.c_organization_id),
        })?;
        drop(conn);
        self.view(org, OrgRole::Operator).await
    }

    /// Read with credit figures.
    pub async fn get(&self, caller: &Caller, c_org: &str) -> Result<OrgView, ApiError> {
        let (org, role) = self.authorize(caller, c_org, Need::Read).await?;
        self.view(org, role).await
    }

    /// Change settings; the result is validated as a whole under the row lock, and what
    /// changed is recorded in the audit trail with the caller.
    pub async fn update(
        &self,
        caller: &Caller,
        c_org: &str,
        input: UpdateOrg,
    ) -> Result<OrgView, ApiError> {
        let (_, role) = self.authorize(caller, c_org, Need::Write).await?;
        let c_org = c_org.to_owned();
        let actor = caller.actor();
        let mut conn = self.recharger.pool().get().await?;
        let result = conn
            .transaction(async move |conn| {
                let Some(org) = orgs::lock(conn, &c_org).await? else {
                    return Ok(Err(ApiError::NotFound(format!("no organisation {c_org}"))));
                };
                let min = input
                    .minimum_balance
                    .unwrap_or(Cents(org.minimum_balance_cents));
                let target = input
                    .target_balance
                    .unwrap_or(Cents(org.target_balance_cents));
                let min_recharge = input
                    .minimum_recharge_amount
                    .unwrap_or(Cents(org.minimum_recharge_amount_cents));
                let daily = input.max_daily_recharges.unwrap_or(org.max_daily_recharges);
                let monthly = match input.max_monthly_recharge_amount {
                    Some(cap) => cap,
                    None => org.max_monthly_recharge_cents.map(Cents),
                };
                if let Err(e) = check_settings(min, target, min_recharge, daily, monthly) {
                    return Ok(Err(e));
                }
                // Switching auto-recharge (back) on starts a fresh failure streak and ends a
                // pause.
                let re_enabled = input.auto_recharge_enabled == Some(true);
                let changes = OrgChanges {
                    minimum_balance_cents: input.minimum_balance.map(|c| c.0),
                    target_balance_cents: input.target_balance.map(|c| c.0),
                    auto_recharge_enabled: input.auto_recharge_enabled,
                    auto_recharge_disabled_reason: re_enabled.then_some(None),
                    auto_recharge_paused_reason: re_enabled.then_some(None),
                    max_monthly_recharge_cents: input
                        .max_monthly_recharge_amount
                        .map(|cap| cap.map(|c| c.0)),
                    consecutive_payment_failures: re_enabled.then_some(0),
                    max_daily_recharges: input.max_daily_recharges,
                    minimum_recharge_amount_cents: input.minimum_recharge_amount.map(|c| c.0),
                };
                let updated = orgs::update(conn, org.id, &changes).await?;
                let diff = settings_diff(&org, &updated);
                if !diff.is_empty() {
                    audit::insert(
                        conn,
                        org.id,
                        &actor,
                        "settings",
                        &serde_json::Value::Object(diff),
                    )
                    .await?;
                }
                Ok::<_, diesel::result::Error>(Ok(updated))
            })
            .await?;
        drop(conn);
        self.view(result?, role).await
    }

    /// Save a card: create the Stripe customer if needed (under the row lock, so there is
    /// one per organisation), attach the payment method, and make it the default.
    pub async fn add_payment_method(
        &self,
        caller: &Caller,
        c_org: &str,
        input: PaymentMethodInput,
    ) -> Result<(OrgView, AttachedPaymentMethod), ApiError> {
        let (_, role) = self.authorize(caller, c_org, Need::Write).await?;
        let actor = caller.actor();
        let pm = input.payment_method_id.trim().to_owned();
        if pm.is_empty()
            || pm.len() > 255
            || !pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ApiError::bad_request(
                "invalid_payment_method",
                "payment_method_id must look like pm_…",
            ));
        }
        let stripe = Arc::clone(self.recharger.stripe());
        let c_org = c_org.to_owned();
        let mut conn = self.recharger.pool().get().await?;
        let result = conn
            .transaction(async move |conn| {
                let Some(org) = orgs::lock(conn, &c_org).await? else {
                    return Ok(Err(ApiError::NotFound(format!("no organisation {c_org}"))));
                };
                let customer = match org.stripe_customer_id.clone() {
                    Some(c) => c,
                    None => match stripe
                        .create_customer(
                            &org.c_organization_id,
                            &format!("customer:{}", org.c_organization_id),
                        )
                        .await
                    {
                        Ok(c) => {
                            orgs::set_customer(conn, org.id, &c).await?;
                            c
                        }
                        Err(e) => return Ok(Err(stripe_error(e))),
                    },
                };
                let attached = match stripe.attach_payment_method(&customer, &pm).await {
                    Ok(a) => a,
                    Err(e) => return Ok(Err(stripe_error(e))),
                };
                let org = if input.set_as_default {
                    if let Err(e) = stripe
                        .set_default_payment_method(&customer, &attached.id)
                        .await
                    {
                        return Ok(Err(stripe_error(e)));
                    }
                    let updated = orgs::set_payment_method(
                        conn,
                        org.id,
                        &attached.id,
                        attached.brand.as_deref(),
                        attached.last4.as_deref(),
                    )
                    .await?;
                    let card = |o: &OrgRow| {
                        o.default_payment_method_id.as_ref().map(|id| {
                            serde_json::json!({
                                "id": id,
                                "brand": o.payment_method_brand,
                                "last4": o.payment_method_last4,
                            })
                        })
                    };
                    audit::insert(
                        conn,
                        org.id,
                        &actor,
                        "payment_method",
                        &serde_json::json!({ "payment_method": { "old": card(&org), "new": card(&updated) } }),
                    )
                    .await?;
                    updated
                } else {
                    org
                };
                Ok::<_, diesel::result::Error>(Ok((org, attached)))
            })
            .await?;
        drop(conn);
        let (org, attached) = result?;
        Ok((self.view(org, role).await?, attached))
    }

    /// Make the KMS agree: create the organisation when missing (storing its team), and set
    /// its quota to the credited total. Repeating it changes nothing.
    pub async fn sync(&self, caller: &Caller, c_org: &str) -> Result<(OrgView, KmsOrg), ApiError> {
        let (_, role) = self.authorize(caller, c_org, Need::Write).await?;
        let actor = caller.actor();
        let kms = Arc::clone(self.recharger.kms());
        let backend = self.backend;
        let policy = self.recharger.kms_retry();
        let c_org = c_org.to_owned();
        let mut conn = self.recharger.pool().get().await?;
        let result = conn
            .transaction(async move |conn| {
                let Some(org) = orgs::lock(conn, &c_org).await? else {
                    return Ok(Err(ApiError::NotFound(format!("no organisation {c_org}"))));
                };
                let total = recharges::credited_total(conn, org.id).await?;
                let holder = kms
                    .holder(&org.c_organization_id, org.litellm_team_id.as_deref())
                    .to_owned();
                // A team another organisation holds (adopted under this one's id) is not
                // this one's.
                if let Some(other) = orgs::find_by_team(conn, &holder).await? {
                    if other.id != org.id {
                        return Ok(Err(team_taken(&holder)));
                    }
                }
                // An adopted team that was never synced must exist: a typo must not create
                // a second team while the real one is never topped up.
                let adopting = backend == QuotaBackend::Litellm
                    && org.litellm_team_id.is_some()
                    && org.kms_synced_at.is_none();
                let (result, _) = with_retries(policy, || {
                    let kms = kms.clone();
                    let holder = holder.clone();
                    async move {
                        match kms.get(&holder).await {
                            Ok(found) if found.quota == total => Ok(found),
                            Ok(_) => kms.set_quota(&holder, total).await,
                            Err(KmsError::NotFound) if !adopting => {
                                kms.create(&holder, total).await
                            }
                            Err(e) => Err(e),
                        }
                    }
                })
                .await;
                let kms_org = match result {
                    Ok(o) => o,
                    Err(KmsError::NotFound) => {
                        return Ok(Err(ApiError::Conflict {
                            code: "team_not_found",
                            message: format!("LiteLLM has no team {holder} to adopt"),
                        }))
                    }
                    Err(e) => return Ok(Err(kms_error(e))),
                };
                let updated =
                    orgs::set_kms_state(conn, org.id, &kms_org.l_team_id, kms_org.quota.0).await?;
                if let Some(spend) = kms_org.usage {
                    usage::record(conn, &[(org.id, spend)], UsageSource::Sync).await?;
                }
                audit::insert(
                    conn,
                    org.id,
                    &actor,
                    "sync",
                    &serde_json::json!({
                        "quota": { "old": org.kms_quota_cents.map(Cents), "new": kms_org.quota },
                        "team": { "old": org.litellm_team_id, "new": kms_org.l_team_id },
                    }),
                )
                .await?;
                Ok::<_, diesel::result::Error>(Ok((updated, kms_org)))
            })
            .await?;
        drop(conn);
        let (org, kms_org) = result?;
        Ok((self.view(org, role).await?, kms_org))
    }

    /// A manual recharge of `amount` (fee on top). With a `request_key` a repeat returns the
    /// first recharge instead of charging again.
    pub async fn recharge(
        &self,
        caller: &Caller,
        c_org: &str,
        input: RechargeInput,
        request_key: Option<String>,
    ) -> Result<ManualRecharge, ApiError> {
        self.authorize(caller, c_org, Need::Write).await?;
        if input.amount.0 <= 0 || input.amount > MAX_AMOUNT {
            return Err(ApiError::bad_request(
                "invalid_amount",
                format!("amount must be more than 0 and at most {MAX_AMOUNT}"),
            ));
        }
        let actor = caller.actor();
        let recharger = Arc::clone(&self.recharger);
        let c_org = c_org.to_owned();
        let mut conn = self.recharger.pool().get().await?;
        let started = conn
            .transaction(async move |conn| {
                let Some(org) = orgs::lock(conn, &c_org).await? else {
                    return Ok(Err(ApiError::NotFound(format!("no organisation {c_org}"))));
                };
                if let Some(key) = &request_key {
                    if let Some(existing) =
                        recharges::find_by_request_key(conn, org.id, key).await?
                    {
                        return Ok(Ok((org, existing, true)));
                    }
                }
                if org.stripe_customer_id.is_none() || org.default_payment_method_id.is_none() {
                    return Ok(Err(ApiError::Conflict {
                        code: "no_payment_method",
                        message: "add a payment method first".into(),
                    }));
                }
                let record = recharger
                    .record(conn, &org, input.amount, &Trigger::Manual { request_key })
                    .await?;
                audit::insert(
                    conn,
                    org.id,
                    &actor,
                    "recharge",
                    &serde_json::json!({
                        "recharge_id": record.id,
                        "amount": Cents(record.amount_cents),
                        "total_charge": Cents(record.total_charge_cents),
                    }),
                )
                .await?;
                Ok::<_, diesel::result::Error>(Ok((org, record, false)))
            })
            .await?;
        drop(conn);
        let (org, record, replayed) = started?;
        if replayed {
            return Ok(ManualRecharge {
                record,
                replayed: true,
            });
        }
        match self
            .recharger
            .charge_and_deliver(record.clone(), &org)
            .await
        {
            Ok(Finished { record, .. }) => Ok(ManualRecharge {
                record,
                replayed: false,
            }),
            Err(PipelineError::PaymentUnknown(_)) => {
                let mut conn = self.recharger.pool().get().await?;
                let record = recharges::find(&mut conn, record.id)
                    .await?
                    .unwrap_or(record);
                Ok(ManualRecharge {
                    record,
                    replayed: false,
                })
            }
            Err(PipelineError::Db(e)) => Err(e.into()),
        }
    }
}

/// The result of a manual recharge.
pub struct ManualRecharge {
    /// The record as it now stands.
    pub record: RechargeRow,
    /// An earlier request with the same `Idempotency-Key` made it.
    pub replayed: bool,
}

/// What a settings change changed: `{field: {"old", "new"}}` in API terms (dollars).
fn settings_diff(old: &OrgRow, new: &OrgRow) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut diff = serde_json::Map::new();
    let mut put = |name: &str, old: serde_json::Value, new: serde_json::Value| {
        if old != new {
            diff.insert(name.into(), json!({ "old": old, "new": new }));
        }
    };
    put(
        "minimum_balance",
        json!(Cents(old.minimum_balance_cents)),
        json!(Cents(new.minimum_balance_cents)),
    );
    put(
        "target_balance",
        json!(Cents(old.target_balance_cents)),
        json!(Cents(new.target_balance_cents)),
    );
    put(
        "minimum_recharge_amount",
        json!(Cents(old.minimum_recharge_amount_cents)),
        json!(Cents(new.minimum_recharge_amount_cents)),
    );
    put(
        "max_daily_recharges",
        json!(old.max_daily_recharges),
        json!(new.max_daily_recharges),
    );
    put(
        "max_monthly_recharge_amount",
        json!(old.max_monthly_recharge_cents.map(Cents)),
        json!(new.max_monthly_recharge_cents.map(Cents)),
    );
    put(
        "auto_recharge_enabled",
        json!(old.auto_recharge_enabled),
        json!(new.auto_recharge_enabled),
    );
    put(
        "auto_recharge_disabled_reason",
        json!(old.auto_recharge_disabled_reason),
        json!(new.auto_recharge_disabled_reason),
    );
    put(
        "auto_recharge_paused_reason",
        json!(old.auto_recharge_paused_reason),
        json!(new.auto_recharge_paused_reason),
    );
    diff
}
