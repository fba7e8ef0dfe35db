//! key-sync's own metrics, in the service's registry beside the HTTP metrics.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Keys created, sync attempts, keys waiting, sync latency.
#[derive(Clone)]
pub struct Metrics {
    /// `key_sync_keys_created_total{source="webhook|user|reconcile|rotation"}`.
    pub keys_created: IntCounterVec,
    /// `key_sync_sync_attempts_total{result="success|transport|status|refused|bad_answer|database|cache|undecryptable"}`.
    pub sync_attempts: IntCounterVec,
    /// `key_sync_keys_pending_sync`: keys not yet in new-api.
    pub pending: IntGauge,
    /// `key_sync_sync_duration_seconds{result}`: one gateway call.
    pub sync_latency: HistogramVec,
    /// `key_sync_user_disables_total{result}`: attempts to disable a deleted user.
    pub user_disables: IntCounterVec,
    /// `key_sync_keys_revoked_total`: keys revoked (by owners, admins, rotations).
    pub keys_revoked: IntCounter,
}

impl Metrics {
    /// Create and register in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let keys_created = IntCounterVec::new(
            Opts::new("key_sync_keys_created_total", "Keys created, by source"),
            &["source"],
        )?;
        let sync_attempts = IntCounterVec::new(
            Opts::new(
                "key_sync_sync_attempts_total",
                "Attempts to make new-api hold a key as Tollgate does, by result",
            ),
            &["result"],
        )?;
        let pending = IntGauge::new(
            "key_sync_keys_pending_sync",
            "Keys not yet synced to new-api",
        )?;
        let sync_latency = HistogramVec::new(
            HistogramOpts::new(
                "key_sync_sync_duration_seconds",
                "Duration of one gateway call for a key",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["result"],
        )?;
        let user_disables = IntCounterVec::new(
            Opts::new(
                "key_sync_user_disables_total",
                "Attempts to disable a deleted user in new-api, by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(user_disables.clone()))?;
        let keys_revoked = IntCounter::new(
            "key_sync_keys_revoked_total",
            "Keys revoked by their owners, admins or rotations",
        )?;
        registry.register(Box::new(keys_revoked.clone()))?;
        registry.register(Box::new(keys_created.clone()))?;
        registry.register(Box::new(sync_attempts.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(sync_latency.clone()))?;
        Ok(Self {
            keys_created,
            sync_attempts,
            pending,
            sync_latency,
            user_disables,
            keys_revoked,
        })
    }
}
