//! The API's edges: CORS for the configured origins, and a per-key rate limit.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::http::header;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tollgate_web::ApiError;

/// CORS for `origins` (comma-separated, `*` for any; empty: same-origin only).
pub fn cors(origins: &str) -> Cors {
    let list: Vec<&str> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    let mut cors = Cors::default()
        .allowed_methods(["GET", "OPTIONS"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600);
    if list.contains(&"*") {
        cors = cors.allow_any_origin();
    } else {
        for origin in list {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

/// Requests per key (a token id, or a signed-in user) per minute, in this process.
pub struct KeyLimiter<K: Hash + Eq + Clone = i64> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> KeyLimiter<K> {
    /// `per_minute` requests per key per minute; `None` when 0 (no limit).
    pub fn new(per_minute: u32) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute)?);
        Some(Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    /// Count a request of `id`; 429 with the seconds to wait when over the limit.
    pub fn check(&self, id: &K) -> Result<(), ApiError> {
        self.limiter.check_key(id).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Drop the state of keys that have been quiet long enough to be back at full quota.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_with_retry_after() {
        let limiter: KeyLimiter = KeyLimiter::new(3).unwrap();
        for _ in 0..3 {
            assert!(limiter.check(&1).is_ok());
        }
        match limiter.check(&1) {
            Err(ApiError::RateLimited { retry_after_secs }) => {
                assert!((1..=20).contains(&retry_after_secs))
            }
            other => panic!("{other:?}"),
        }
        assert!(limiter.check(&2).is_ok(), "another key has its own quota");
        assert!(KeyLimiter::<i64>::new(0).is_none());
    }
}
