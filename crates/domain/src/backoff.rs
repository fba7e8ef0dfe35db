//! Retry schedules: capped exponential backoff with full jitter.
//!
//! The random part is passed in (a number in `[0, 1)`) so the schedule stays pure and testable.

use std::time::Duration;

/// A capped exponential schedule: attempt `n` (1-based) waits up to `base * factor^(n-1)`,
/// never more than `cap`, scaled by the caller's jitter draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait before the first retry, before jitter.
    pub base: Duration,
    /// Growth per attempt.
    pub factor: u32,
    /// Longest wait.
    pub cap: Duration,
}

impl Backoff {
    /// The un-jittered ceiling for retry number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(32);
        let mult = self.factor.checked_pow(exp).unwrap_or(u32::MAX);
        self.base
            .checked_mul(mult)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The wait for retry `attempt` with "equal jitter": half fixed, half drawn from
    /// `jitter` in `[0, 1)`, so retries spread out but never collapse to zero.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(1),
        factor: 2,
        cap: Duration::from_secs(60),
    };

    #[test]
    fn grows_then_caps() {
        assert_eq!(B.ceiling(1), Duration::from_secs(1));
        assert_eq!(B.ceiling(2), Duration::from_secs(2));
        assert_eq!(B.ceiling(6), Duration::from_secs(32));
        assert_eq!(B.ceiling(7), Duration::from_secs(60));
        assert_eq!(B.ceiling(1000), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_half_and_full_ceiling() {
        assert_eq!(B.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(B.delay(3, 1.0), Duration::from_secs(4));
        assert!(B.delay(3, 0.5) > Duration::from_secs(2));
        assert_eq!(B.delay(3, 7.0), Duration::from_secs(4));
    }
}
