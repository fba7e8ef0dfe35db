//! Per-route call counters, so tests can assert whether the KMS was called.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::Method;
use serde::Serialize;

/// Requests that reached the simulator, per KMS route. Requests answered by an injected
/// fault count too: they were calls to the KMS all the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// `GET /health`.
    pub health: u64,
    /// `POST /organizations/`.
    pub create: u64,
    /// `GET /organizations/{id}`.
    pub get: u64,
    /// `PUT /organizations/{id}/quota`.
    pub set_quota: u64,
    /// `POST /organizations/{id}/usage`.
    pub usage: u64,
}

/// The KMS routes that are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Create,
    Get,
    SetQuota,
    Usage,
}

impl Route {
    /// The counted route a request is for, if any.
    pub(crate) fn classify(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let route = match (method.as_str(), segments.as_slice()) {
            ("GET", ["health"]) => Self::Health,
            ("POST", ["organizations"] | ["organizations", ""]) => Self::Create,
            ("GET", ["organizations", id]) if !id.is_empty() => Self::Get,
            ("PUT", ["organizations", id, "quota"]) if !id.is_empty() => Self::SetQuota,
            ("POST", ["organizations", id, "usage"]) if !id.is_empty() => Self::Usage,
            _ => return None,
        };
        Some(route)
    }
}

/// Thread-safe counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    health: AtomicU64,
    create: AtomicU64,
    get: AtomicU64,
    set_quota: AtomicU64,
    usage: AtomicU64,
}

impl Counters {
    /// Count one call of `route`.
    pub(crate) fn hit(&self, route: Route) {
        let counter = match route {
            Route::Health => &self.health,
            Route::Create => &self.create,
            Route::Get => &self.get,
            Route::SetQuota => &self.set_quota,
            Route::Usage => &self.usage,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            health: self.health.load(Ordering::Relaxed),
            create: self.create.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            set_quota: self.set_quota.load(Ordering::Relaxed),
            usage: self.usage.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_kms_routes_only() {
        let c = |m: Method, p: &str| Route::classify(&m, p);
        assert_eq!(c(Method::GET, "/health"), Some(Route::Health));
        assert_eq!(c(Method::POST, "/organizations/"), Some(Route::Create));
        assert_eq!(c(Method::POST, "/organizations"), Some(Route::Create));
        assert_eq!(c(Method::GET, "/organizations/a"), Some(Route::Get));
        assert_eq!(
            c(Method::PUT, "/organizations/a/quota"),
            Some(Route::SetQuota)
        );
        assert_eq!(
            c(Method::POST, "/organizations/a/usage"),
            Some(Route::Usage)
        );
        assert_eq!(c(Method::GET, "/organizations/"), None);
        assert_eq!(c(Method::GET, "/_sim/stats"), None);
        assert_eq!(c(Method::DELETE, "/organizations/a"), None);
    }
}
