//! [`StripeGateway`]: the [`PaymentGateway`] over async-stripe's raw request path.

use secrecy::ExposeSecret;
use std::time::Duration;

use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use stripe::{IdempotencyKey, RequestStrategy};
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::errors::{ApiError, Failure, StripeError};
use crate::params::{
    metadata_map, segment, Attach, CreateCustomer, CreatePaymentIntent, CreateRefund, Expand,
    InvoiceSettings, ListQuery, UpdateCustomer,
};
use crate::types::{AttachedPaymentMethod, ChargeOutcome, ChargeRequest, PaymentIntent, Refund};
use crate::wire::{self, WirePaymentIntent};
use crate::{BoxFuture, PaymentGateway, StripeConfig};

/// Stripe's largest page.
const DEFAULT_PAGE_SIZE: u32 = 100;

/// Stripe over HTTP, cheap to clone. Every request has the configured timeout and is sent
/// once (no library retries).
#[derive(Clone)]
pub struct StripeGateway {
    client: stripe::Client,
    timeout: Duration,
    page_size: u32,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("timeout", &self.timeout)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// A gateway for `config`. Fails ([`StripeError::Rejected`] with status 0) when the base
    /// URL or key cannot be used.
    pub fn new(config: &StripeConfig) -> Result<Self, StripeError> {
        let client = stripe::ClientBuilder::new(config.secret_key.expose_secret())
            .url(api_root(&config.api_base))
            .timeout(config.timeout)
            .request_strategy(RequestStrategy::Once)
            .build()
            // Only configuration problems (bad URL, key not a header value) fail here.
            .map_err(|e| StripeError::Rejected {
                status: 0,
                code: None,
                message: format!("invalid Stripe configuration: {e}"),
            })?;
        Ok(Self {
            client,
            timeout: config.timeout,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Use `limit` items per page when listing PaymentIntents (1..=100, default 100).
    pub fn with_list_page_size(mut self, limit: u32) -> Self {
        self.page_size = limit.clamp(1, DEFAULT_PAGE_SIZE);
        self
    }

    /// Send one request and read the answer as `T`.
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        idempotency_key: Option<&str>,
    ) -> Result<T, Failure> {
        let strategy = match idempotency_key {
            Some(key) => RequestStrategy::Idempotent(IdempotencyKey::new(key).map_err(|e| {
                Failure::Other(StripeError::Rejected {
                    status: 0,
                    code: Some("invalid_idempotency_key".into()),
                    message: e.to_string(),
                })
            })?),
            None => RequestStrategy::Once,
        };
        let method = request.method;
        let path = request.path.clone();
        let answer = request
            .customize::<miniserde::json::Value>()
            .request_strategy(strategy)
            .timeout(self.timeout)
            .send(&self.client)
            .await;
        let value = match answer {
            Ok(value) => value,
            Err(err) => {
                let failure = Failure::from(err);
                match &failure {
                    Failure::Api(api) => tracing::debug!(
                        ?method, %path, status = api.status, code = ?api.code,
                        "stripe answered with an error"
                    ),
                    Failure::Other(err) => {
                        tracing::warn!(?method, %path, error = %err, "stripe request failed")
                    }
                }
                return Err(failure);
            }
        };
        let json = miniserde::json::to_string(&value);
        serde_json::from_str(&json).map_err(|e| {
            tracing::warn!(?method, %path, error = %e, "unexpected answer from stripe");
            Failure::Other(StripeError::Unavailable(format!(
                "unexpected answer to {path}: {e}"
            )))
        })
    }

    async fn list_payment_intents(
        &self,
        customer: Option<&str>,
        starting_after: Option<&str>,
    ) -> Result<wire::List<WirePaymentIntent>, Failure> {
        let query = ListQuery {
            customer,
            limit: self.page_size,
            starting_after,
            expand: ["data.latest_charge"],
        };
        let request = RequestBuilder::new(StripeMethod::Get, "/payment_intents").query(&query);
        self.send(request, None).await
    }

    /// Real Stripe: list the customer's PaymentIntents, newest first; the first match wins.
    /// `Ok(Err(api))` when the server refuses the `customer` filter.
    async fn find_by_customer_filter(
        &self,
        customer: &str,
        key: &str,
        value: &str,
    ) -> Result<Result<Option<PaymentIntent>, ApiError>, StripeError> {
        let mut after: Option<String> = None;
        loop {
            let page = match self
                .list_payment_intents(Some(customer), after.as_deref())
                .await
            {
                Ok(page) => page,
                Err(Failure::Api(api)) if rejects_customer_filter(&api) => return Ok(Err(api)),
                Err(failure) => return Err(failure.into_error()),
            };
            after = page.data.last().map(|pi| pi.id.clone());
            if let Some(found) = page.data.into_iter().find(|pi| {
                pi.customer_id() == Some(customer)
                    && pi
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get(key))
                        .map(String::as_str)
                        == Some(value)
            }) {
                return Ok(Ok(Some(found.into_public())));
            }
            if !page.has_more || after.is_none() {
                return Ok(Ok(None));
            }
        }
    }

    /// localstripe: list every PaymentIntent (it lists oldest first) and keep the newest match:
    /// the largest `created`, ties going to the later one in the listing.
    async fn find_by_listing_all(
        &self,
        customer: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<PaymentIntent>, StripeError> {
        let mut after: Option<String> = None;
        let mut best: Option<WirePaymentIntent> = None;
        loop {
            let page = self
                .list_payment_intents(None, after.as_deref())
                .await
                .map_err(Failure::into_error)?;
            after = page.data.last().map(|pi| pi.id.clone());
            for pi in page.data {
                let matches = pi.customer_id() == Some(customer)
                    && pi
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get(key))
                        .map(String::as_str)
                        == Some(value);
                if matches && best.as_ref().is_none_or(|b| pi.created >= b.created) {
                    best = Some(pi);
                }
            }
            if !page.has_more || after.is_none() {
                return Ok(best.map(WirePaymentIntent::into_public));
            }
        }
    }
}

/// localstripe answers `400 Unexpected customer` to the `customer` list filter.
fn rejects_customer_filter(api: &ApiError) -> bool {
    api.status == 400 && api.message.contains("Unexpected") && api.message.contains("customer")
}

/// async-stripe appends `v1/…` to the root it is given, so hand it `scheme://host[:port]/`.
fn api_root(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}/")
}

impl PaymentGateway for StripeGateway {
    fn create_customer<'a>(
        &'a self,
        organization_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<String, StripeError>> {
        async move {
            let form = CreateCustomer {
                metadata: metadata_map(&[("c_organization_id", organization_id)]),
            };
            let request = RequestBuilder::new(StripeMethod::Post, "/customers").form(&form);
            let customer: wire::WithId = self
                .send(request, Some(idempotency_key))
                .await
                .map_err(Failure::into_error)?;
            Ok(customer.id)
        }
        .boxed()
    }

    fn attach_payment_method<'a>(
        &'a self,
        customer: &'a str,
        payment_method: &'a str,
    ) -> BoxFuture<'a, Result<AttachedPaymentMethod, StripeError>> {
        async move {
            let path = format!("/payment_methods/{}/attach", segment(payment_method));
            let request = RequestBuilder::new(StripeMethod::Post, path).form(&Attach { customer });
            let method: wire::PaymentMethod = self
                .send(request, None)
                .await
                .map_err(Failure::into_error)?;
            Ok(method.into_public())
        }
        .boxed()
    }

    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a str,
        payment_method: &'a str,
    ) -> BoxFuture<'a, Result<(), StripeError>> {
        async move {
            let form = UpdateCustomer {
                invoice_settings: InvoiceSettings {
                    default_payment_method: payment_method,
                },
            };
            let path = format!("/customers/{}", segment(customer));
            let request = RequestBuilder::new(StripeMethod::Post, path).form(&form);
            let _: wire::WithId = self
                .send(request, None)
                .await
                .map_err(Failure::into_error)?;
            Ok(())
        }
        .boxed()
    }

    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest<'a>,
    ) -> BoxFuture<'a, Result<ChargeOutcome, StripeError>> {
        async move {
            let form = CreatePaymentIntent {
                amount: request.amount_cents,
                currency: request.currency,
                customer: request.customer,
                payment_method: request.payment_method,
                confirm: true,
                off_session: true,
                metadata: metadata_map(request.metadata),
            };
            let http = RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(&form);
            let outcome = match self
                .send::<WirePaymentIntent>(http, Some(request.idempotency_key))
                .await
            {
                Ok(pi) => Ok(pi.into_charge_outcome()),
                Err(failure) => failure.into_charge_result(),
            };
            match &outcome {
                Ok(outcome) => tracing::info!(
                    customer = request.customer,
                    amount = request.amount_cents,
                    payment_intent = outcome.payment_intent_id(),
                    outcome = outcome_name(outcome),
                    "stripe charge"
                ),
                Err(err) => tracing::warn!(
                    customer = request.customer,
                    amount = request.amount_cents,
                    error = %err,
                    "stripe charge failed"
                ),
            }
            outcome
        }
        .boxed()
    }

    fn retrieve_payment_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentIntent, StripeError>> {
        async move {
            let path = format!("/payment_intents/{}", segment(id));
            let request = RequestBuilder::new(StripeMethod::Get, path).query(&Expand {
                expand: ["latest_charge"],
            });
            let pi: WirePaymentIntent = self
                .send(request, None)
                .await
                .map_err(Failure::into_error)?;
            Ok(pi.into_public())
        }
        .boxed()
    }

    fn find_payment_intent<'a>(
        &'a self,
        customer: &'a str,
        metadata_key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Option<PaymentIntent>, StripeError>> {
        async move {
            match self
                .find_by_customer_filter(customer, metadata_key, value)
                .await?
            {
                Ok(found) => Ok(found),
                Err(api) => {
                    tracing::debug!(
                        message = %api.message,
                        "customer filter refused (localstripe?); listing all PaymentIntents"
                    );
                    self.find_by_listing_all(customer, metadata_key, value)
                        .await
                }
            }
        }
        .boxed()
    }

    fn cancel_payment_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentIntent, StripeError>> {
        async move {
            let path = format!("/payment_intents/{}/cancel", segment(id));
            let request = RequestBuilder::new(StripeMethod::Post, path);
            let key = format!("cancel:{id}");
            let pi: WirePaymentIntent = self
                .send(request, Some(key.as_str()))
                .await
                .map_err(Failure::into_error)?;
            Ok(pi.into_public())
        }
        .boxed()
    }

    fn refund<'a>(
        &'a self,
        payment_intent_id: &'a str,
        idempotency_key: &'a str,
        metadata: &'a [(&'a str, &'a str)],
    ) -> BoxFuture<'a, Result<Refund, StripeError>> {
        async move {
            let form = CreateRefund {
                payment_intent: payment_intent_id,
                metadata: metadata_map(metadata),
            };
            let request = RequestBuilder::new(StripeMethod::Post, "/refunds").form(&form);
            let refund: wire::Refund = self
                .send(request, Some(idempotency_key))
                .await
                .map_err(Failure::into_error)?;
            Ok(refund.into_public())
        }
        .boxed()
    }
}

fn outcome_name(outcome: &ChargeOutcome) -> &'static str {
    match outcome {
        ChargeOutcome::Succeeded(_) => "succeeded",
        ChargeOutcome::RequiresAction { .. } => "requires_action",
        ChargeOutcome::Declined { .. } => "declined",
        ChargeOutcome::Pending(_) => "pending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_root_accepts_common_spellings() {
        for base in [
            "https://api.stripe.com",
            "https://api.stripe.com/",
            "https://api.stripe.com/v1",
            "https://api.stripe.com/v1/",
        ] {
            assert_eq!(api_root(base), "https://api.stripe.com/");
        }
        assert_eq!(api_root("http://127.0.0.1:8420"), "http://127.0.0.1:8420/");
    }

    #[test]
    fn bad_base_url_is_rejected_locally() {
        let err = StripeGateway::new(&StripeConfig {
            secret_key: "sk_test_x".into(),
            api_base: "not a url".into(),
            timeout: Duration::from_secs(1),
        })
        .unwrap_err();
        assert!(
            matches!(err, StripeError::Rejected { status: 0, .. }),
            "{err:?}"
        );
    }
}
