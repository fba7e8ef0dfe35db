//! Prometheus metrics: one registry per service, served at `/metrics`. The middleware
//! counts requests and observes latency per route pattern (`/v1/keys/{id}`, not raw paths),
//! so cardinality stays bounded; services register their own metrics in the same registry.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::Registry;

/// Latency buckets in seconds, from 1 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The request middleware for `service` (metric prefix, `-` becomes `_`) over `registry`.
pub fn http_metrics(service: &str, registry: Registry) -> PrometheusMetrics {
    PrometheusMetricsBuilder::new(&service.replace('-', "_"))
        .registry(registry)
        .endpoint("/metrics")
        .buckets(BUCKETS)
        .mask_unmatched_patterns("UNKNOWN")
        .build()
        .expect("metric names are static and valid")
}
