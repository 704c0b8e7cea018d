//! Latency samples with nearest-rank percentiles, and a small seeded random generator.

use std::time::Duration;

/// Recorded request latencies.
#[derive(Default)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Samples {
        Samples {
            nanos: Vec::with_capacity(n),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.nanos.extend(other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// The nearest-rank percentile `p` (0 < p <= 100), or None without samples.
    pub fn percentile(&mut self, p: u32) -> Option<Duration> {
        if self.nanos.is_empty() {
            return None;
        }
        self.nanos.sort_unstable();
        let n = self.nanos.len();
        // rank = ceil(p/100 * n), at least 1
        let rank = (usize::try_from(p).unwrap_or(100) * n).div_ceil(100).max(1);
        Some(Duration::from_nanos(self.nanos[rank.min(n) - 1]))
    }
}

/// Milliseconds with two decimals, for the report.
pub fn ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
        None => "-".to_owned(),
    }
}

/// SplitMix64: a tiny deterministic generator, enough to pick query positions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0); the modulo bias is negligible for benchmark positions.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.percentile(50), None);
        for i in (1..=100).rev() {
            s.record(Duration::from_millis(i));
        }
        assert_eq!(s.percentile(50), Some(Duration::from_millis(50)));
        assert_eq!(s.percentile(99), Some(Duration::from_millis(99)));
        assert_eq!(s.percentile(100), Some(Duration::from_millis(100)));
        let mut one = Samples::default();
        one.record(Duration::from_millis(7));
        assert_eq!(one.percentile(1), Some(Duration::from_millis(7)));
        assert_eq!(one.percentile(99), Some(Duration::from_millis(7)));
    }

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
