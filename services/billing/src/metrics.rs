//! billing's own Prometheus metrics (HTTP metrics come from the web kit).

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

/// Counters and timings of the pipeline.
#[derive(Clone)]
pub struct Metrics {
    /// Limit webhook answers by action.
    pub webhooks: IntCounterVec,
    /// Recharges by final status (and `payment_unknown` for unresolved charges).
    pub recharges: IntCounterVec,
    /// Duration of Stripe charge calls.
    pub charge_seconds: Histogram,
}

impl Metrics {
    /// Create and register on `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let webhooks = IntCounterVec::new(
            Opts::new(
                "billing_limit_webhooks_total",
                "Limit webhook answers by action",
            ),
            &["action"],
        )?;
        let recharges = IntCounterVec::new(
            Opts::new("billing_recharges_total", "Recharges by final status"),
            &["status"],
        )?;
        let charge_seconds = Histogram::with_opts(
            HistogramOpts::new("billing_charge_seconds", "Stripe charge call duration")
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )?;
        registry.register(Box::new(webhooks.clone()))?;
        registry.register(Box::new(recharges.clone()))?;
        registry.register(Box::new(charge_seconds.clone()))?;
        Ok(Self {
            webhooks,
            recharges,
            charge_seconds,
        })
    }
}
