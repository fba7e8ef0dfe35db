//! Stripe behind a small trait for the billing service, which charges saved cards off-session.
//!
//! Works against real Stripe's documented API and against localstripe 1.15. Requests go out
//! through async-stripe 1.0 (rc) as raw requests; answers are read with this crate's own
//! lenient types (only the fields we need), because async-stripe's generated types reject
//! localstripe's PaymentIntents. The library never retries: callers do their own retries with
//! the same idempotency key.

mod client;
mod errors;
mod params;
mod types;
mod webhook_signature;
mod wire;

pub use client::StripeGateway;
pub use errors::StripeError;
pub use types::{
    AttachedPaymentMethod, ChargeOutcome, ChargeRequest, PaymentIntent, PaymentIntentStatus, Refund,
};
pub use webhook_signature::{sign_webhook, verify_webhook_signature, WebhookSignatureError};

use std::time::Duration;

/// A boxed, `Send` future borrowing for `'a`: what [`PaymentGateway`] methods return.
pub type BoxFuture<'a, T> = futures_util::future::BoxFuture<'a, T>;

/// How to reach Stripe.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// Secret API key (`sk_live_…`, `sk_test_…`). Never logged.
    pub secret_key: secrecy::SecretString,
    /// API root without `/v1`: `https://api.stripe.com` or e.g. `http://127.0.0.1:8420` for
    /// localstripe. A trailing `/` or `/v1` is tolerated.
    pub api_base: String,
    /// Limit for each HTTP request (connect, send and read the whole answer).
    pub timeout: Duration,
}

/// The Stripe operations billing needs. Implemented by [`StripeGateway`]; tests may fake it.
pub trait PaymentGateway: Send + Sync {
    /// Create a customer with `metadata[c_organization_id]` = `organization_id`; returns its
    /// `cus_…` id.
    fn create_customer<'a>(
        &'a self,
        organization_id: &'a str,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<String, StripeError>>;

    /// Attach `payment_method` to `customer`. Returns the id from Stripe's answer (localstripe
    /// answers test tokens such as `pm_card_visa` with a new `pm_…` id) and the card's brand
    /// and last 4 digits. A declined card gives [`StripeError::Card`].
    fn attach_payment_method<'a>(
        &'a self,
        customer: &'a str,
        payment_method: &'a str,
    ) -> BoxFuture<'a, Result<AttachedPaymentMethod, StripeError>>;

    /// Make `payment_method` the customer's `invoice_settings.default_payment_method`.
    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a str,
        payment_method: &'a str,
    ) -> BoxFuture<'a, Result<(), StripeError>>;

    /// Charge a saved card off-session: one confirmed PaymentIntent, sent with the request's
    /// idempotency key. `Err` is only returned when the outcome is unknown
    /// ([`StripeError::Unavailable`]) or the request itself was wrong
    /// ([`StripeError::Rejected`]); declines and authentication needs are outcomes.
    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest<'a>,
    ) -> BoxFuture<'a, Result<ChargeOutcome, StripeError>>;

    /// Read one PaymentIntent (with its latest charge expanded, for `amount_refunded`).
    fn retrieve_payment_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentIntent, StripeError>>;

    /// Find the PaymentIntent of `customer` whose `metadata[metadata_key]` == `value` (newest
    /// first wins). Real Stripe: `GET /v1/payment_intents?customer=…` paged with
    /// `starting_after`. localstripe rejects the `customer` filter ("Unexpected customer"):
    /// then all PaymentIntents are listed (paged) and filtered here.
    fn find_payment_intent<'a>(
        &'a self,
        customer: &'a str,
        metadata_key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Option<PaymentIntent>, StripeError>>;

    /// Cancel a PaymentIntent that is not finished (`POST /v1/payment_intents/{id}/cancel`),
    /// so a holder can no longer complete it. A PaymentIntent that already succeeded is
    /// [`StripeError::Rejected`] (read it to see its state).
    fn cancel_payment_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<PaymentIntent, StripeError>>;

    /// Refund a PaymentIntent in full (`POST /v1/refunds payment_intent=…`) with `metadata`.
    fn refund<'a>(
        &'a self,
        payment_intent_id: &'a str,
        idempotency_key: &'a str,
        metadata: &'a [(&'a str, &'a str)],
    ) -> BoxFuture<'a, Result<Refund, StripeError>>;
}
