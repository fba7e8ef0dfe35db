//! What handlers share: the service layer, one value per concern.

use std::sync::Arc;

use crate::limit_webhook::LimitWebhooks;
use crate::litellm_alert::LitellmAlerts;
use crate::membership::Memberships;
use crate::organizations::Organizations;
use crate::stripe_webhook::StripeWebhooks;

/// Application state behind `web::Data`.
pub struct AppState {
    /// Signed limit webhooks.
    pub limit_webhooks: LimitWebhooks,
    /// LiteLLM's budget alerts.
    pub litellm_alerts: LitellmAlerts,
    /// Stripe webhooks.
    pub stripe_webhooks: StripeWebhooks,
    /// Organisation operations.
    pub organizations: Arc<Organizations>,
    /// Membership operations (the operator's).
    pub memberships: Memberships,
}
