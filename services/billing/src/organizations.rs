//! Organisation operations behind the org API: create, read, change settings, save a card,
//! sync to the KMS, and manual recharges (the same pipeline as automatic ones, outside the
//! daily cap).

use std::sync::Arc;

use diesel_async::AsyncConnection;
use serde::Deserialize;
use tollgate_db::DbError;
use tollgate_domain::money::Cents;
use tollgate_stripe::{AttachedPaymentMethod, StripeError};
use tollgate_web::ApiError;

use crate::kms::{with_retries, KmsError, KmsOrg};
use crate::recharge::{Finished, PipelineError, Recharger, Trigger};
use crate::settings::QuotaBackend;
use crate::store::events::{self, EventRow};
use crate::store::orgs::{self, NewOrg, OrgChanges, OrgRow};
use crate::store::poller::{self, PollerRun};
use crate::store::recharges::{self, OrgFigures, RechargeRow};
use crate::store::Page;

/// Largest amount accepted anywhere in the org API: $1,000,000.
pub const MAX_AMOUNT: Cents = Cents(100_000_000);
/// Largest daily cap.
pub const MAX_DAILY_RECHARGES: i32 = 1_000;

/// `POST /api/organizations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// The caller's organisation id.
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
#[derive(Debug, Default, Deserialize)]
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
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RechargeInput {
    /// Dollars to credit (the fee is added on top).
    pub amount: Cents,
}

/// An organisation with its money figures.
pub struct OrgView {
    /// The row.
    pub org: OrgRow,
    /// Credit delivered and on its way, this month's automatic credit.
    pub figures: OrgFigures,
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

fn db(e: impl Into<DbError>) -> ApiError {
    ApiError::from(e.into())
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

    async fn view(&self, org: OrgRow) -> Result<OrgView, ApiError> {
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        let figures = recharges::figures(&mut conn, org.id).await.map_err(db)?;
        Ok(OrgView { org, figures })
    }

    /// A page of organisations, newest first, with their figures.
    pub async fn list(&self, page: Page) -> Result<Paged<OrgView>, ApiError> {
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        let (rows, total) = orgs::page(&mut conn, page).await.map_err(db)?;
        let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
        let figures = recharges::figures_by_org(&mut conn, &ids)
            .await
            .map_err(db)?;
        let items = rows
            .into_iter()
            .map(|org| OrgView {
                figures: figures.get(&org.id).copied().unwrap_or_default(),
                org,
            })
            .collect();
        Ok(Paged { items, total })
    }

    /// A page of the organisation's recharges, newest first.
    pub async fn recharge_history(
        &self,
        c_org: &str,
        page: Page,
    ) -> Result<Paged<RechargeRow>, ApiError> {
        let org = self.find(c_org).await?;
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        let (items, total) = recharges::page(&mut conn, org.id, page).await.map_err(db)?;
        Ok(Paged { items, total })
    }

    /// A page of the organisation's webhook events, newest first.
    pub async fn webhook_events(
        &self,
        c_org: &str,
        page: Page,
    ) -> Result<Paged<EventRow>, ApiError> {
        let org = self.find(c_org).await?;
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        let (items, total) = events::page(&mut conn, org.id, page).await.map_err(db)?;
        Ok(Paged { items, total })
    }

    /// The poller's newest pass.
    pub async fn last_poll(&self) -> Result<Option<PollerRun>, ApiError> {
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        poller::latest(&mut conn).await.map_err(db)
    }

    /// The organisation, or 404.
    pub async fn find(&self, c_org: &str) -> Result<OrgRow, ApiError> {
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        orgs::find(&mut conn, c_org)
            .await
            .map_err(db)?
            .ok_or_else(|| ApiError::NotFound(format!("no organisation {c_org}")))
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
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
        let inserted = match orgs::insert(&mut conn, &new).await {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                return Err(team_taken(
                    new.litellm_team_id.as_deref().unwrap_or_default(),
                ))
            }
            other => other.map_err(db)?,
        };
        let org = inserted.ok_or_else(|| ApiError::Conflict {
            code: "organization_exists",
            message: format!("organisation {} exists", new.c_organization_id),
        })?;
        drop(conn);
        self.view(org).await
    }

    /// Read with credit figures.
    pub async fn get(&self, c_org: &str) -> Result<OrgView, ApiError> {
        let org = self.find(c_org).await?;
        self.view(org).await
    }

    /// Change settings; the result is validated as a whole under the row lock.
    pub async fn update(&self, c_org: &str, input: UpdateOrg) -> Result<OrgView, ApiError> {
        let c_org = c_org.to_owned();
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
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
                let org = orgs::update(conn, org.id, &changes).await?;
                Ok::<_, diesel::result::Error>(Ok(org))
            })
            .await
            .map_err(db)?;
        drop(conn);
        self.view(result?).await
    }

    /// Save a card: create the Stripe customer if needed (under the row lock, so there is
    /// one per organisation), attach the payment method, and make it the default.
    pub async fn add_payment_method(
        &self,
        c_org: &str,
        input: PaymentMethodInput,
    ) -> Result<(OrgView, AttachedPaymentMethod), ApiError> {
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
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
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
                    orgs::set_payment_method(
                        conn,
                        org.id,
                        &attached.id,
                        attached.brand.as_deref(),
                        attached.last4.as_deref(),
                    )
                    .await?
                } else {
                    org
                };
                Ok::<_, diesel::result::Error>(Ok((org, attached)))
            })
            .await
            .map_err(db)?;
        drop(conn);
        let (org, attached) = result?;
        Ok((self.view(org).await?, attached))
    }

    /// Make the KMS agree: create the organisation when missing (storing its team), and set
    /// its quota to the credited total. Repeating it changes nothing.
    pub async fn sync(&self, c_org: &str) -> Result<(OrgView, KmsOrg), ApiError> {
        let kms = Arc::clone(self.recharger.kms());
        let backend = self.backend;
        let policy = self.recharger.kms_retry();
        let c_org = c_org.to_owned();
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
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
                let org =
                    orgs::set_kms_state(conn, org.id, &kms_org.l_team_id, kms_org.quota.0).await?;
                Ok::<_, diesel::result::Error>(Ok((org, kms_org)))
            })
            .await
            .map_err(db)?;
        drop(conn);
        let (org, kms_org) = result?;
        Ok((self.view(org).await?, kms_org))
    }

    /// A manual recharge of `amount` (fee on top). With a `request_key` a repeat returns the
    /// first recharge instead of charging again.
    pub async fn recharge(
        &self,
        c_org: &str,
        input: RechargeInput,
        request_key: Option<String>,
    ) -> Result<ManualRecharge, ApiError> {
        if input.amount.0 <= 0 || input.amount > MAX_AMOUNT {
            return Err(ApiError::bad_request(
                "invalid_amount",
                format!("amount must be more than 0 and at most {MAX_AMOUNT}"),
            ));
        }
        let recharger = Arc::clone(&self.recharger);
        let c_org = c_org.to_owned();
        let mut conn = self.recharger.pool().get().await.map_err(db)?;
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
                Ok::<_, diesel::result::Error>(Ok((org, record, false)))
            })
            .await
            .map_err(db)?;
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
                let mut conn = self.recharger.pool().get().await.map_err(db)?;
                let record = recharges::find(&mut conn, record.id)
                    .await
                    .map_err(db)?
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
