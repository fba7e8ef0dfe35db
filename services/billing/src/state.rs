//! What handlers share.

use std::sync::Arc;

use crate::limit_webhook::LimitWebhooks;
use crate::organizations::Organizations;
use crate::stripe_webhook::StripeWebhooks;

/// Application state behind `web::Data`.
pub struct AppState {
    /// Limit webhooks.
    pub limit_webhooks: Arc<LimitWebhooks>,
    /// Stripe webhooks.
    pub stripe_webhooks: StripeWebhooks,
    /// Organisation operations.
    pub organizations: Organizations,
}
