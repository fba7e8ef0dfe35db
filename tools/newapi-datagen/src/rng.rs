//! A tiny, portable, seedable generator (SplitMix64). Every log row and every token gets a
//! stream of its own, derived from `(seed, stream, index)`, so the output never depends on
//! batch size, parallelism or scheduling.

/// SplitMix64's finaliser: a bijective 64-bit mix.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stream of random numbers for one `(seed, stream, index)`.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, stream: u64, index: u64) -> Rng {
        Rng(mix(
            mix(mix(seed) ^ stream) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`; multiply-shift, bias below 2^-40 for our ranges).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 1, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, 1, 3).next_u64(), Rng::new(7, 1, 4).next_u64());
        assert_ne!(Rng::new(7, 1, 3).next_u64(), Rng::new(8, 1, 3).next_u64());
        assert_ne!(Rng::new(7, 1, 3).next_u64(), Rng::new(7, 2, 3).next_u64());
        let mut r = Rng::new(1, 2, 3);
        for _ in 0..10_000 {
            assert!(r.below(10) < 10);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
