//! How long changes wait for the writer: from the moment a request hands its change to the
//! writer thread until the commit that holds it is done. Kept as a histogram in powers of two
//! (microseconds), cheap enough to count every job, and served on `/healthz` so that an
//! engineer (or the benchmark) can tell whether requests wait for the single writer.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets: bucket `i` counts waits of less than `2^i` µs (the last one: everything longer).
pub const BUCKETS: usize = 26;

#[derive(Default)]
pub struct WriteStats {
    jobs: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WriteStatsSnapshot {
    /// Changes committed (or refused) since the server started.
    pub jobs: u64,
    /// Their summed wait, in µs.
    pub total_us: u64,
    /// The longest wait, in µs.
    pub max_us: u64,
    /// `wait_us_lt_pow2[i]`: waits shorter than 2^i µs and at least 2^(i-1) µs.
    pub wait_us_lt_pow2: Vec<u64>,
}

/// The bucket a wait of `us` microseconds falls in.
pub fn bucket_of(us: u64) -> usize {
    ((u64::BITS - us.leading_zeros()) as usize).min(BUCKETS - 1)
}

impl WriteStats {
    pub fn record(&self, wait: Duration) {
        let us = wait.as_micros().min(u64::MAX as u128) as u64;
        self.jobs.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> WriteStatsSnapshot {
        WriteStatsSnapshot {
            jobs: self.jobs.load(Ordering::Relaxed),
            total_us: self.total_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
            wait_us_lt_pow2: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

impl WriteStatsSnapshot {
    /// The waits between an earlier snapshot and this one.
    pub fn since(&self, earlier: &WriteStatsSnapshot) -> WriteStatsSnapshot {
        WriteStatsSnapshot {
            jobs: self.jobs.saturating_sub(earlier.jobs),
            total_us: self.total_us.saturating_sub(earlier.total_us),
            max_us: self.max_us,
            wait_us_lt_pow2: self
                .wait_us_lt_pow2
                .iter()
                .zip(earlier.wait_us_lt_pow2.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        }
    }

    /// The upper bound, in µs, of the bucket holding the `q` quantile (0..=1) of the waits:
    /// the true quantile is at most this and more than half of it.
    pub fn quantile_upper_us(&self, q: f64) -> u64 {
        let n: u64 = self.wait_us_lt_pow2.iter().sum();
        if n == 0 {
            return 0;
        }
        let want = ((n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.wait_us_lt_pow2.iter().enumerate() {
            seen += c;
            if seen >= want {
                return 1u64 << i;
            }
        }
        1u64 << (BUCKETS - 1)
    }

    pub fn mean_us(&self) -> f64 {
        self.total_us as f64 / self.jobs.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(1023), 10);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_and_differences() {
        let s = WriteStats::default();
        for _ in 0..98 {
            s.record(Duration::from_micros(300)); // bucket 9: < 512 µs
        }
        let before = s.snapshot();
        s.record(Duration::from_millis(5)); // < 8192 µs
        s.record(Duration::from_millis(40)); // < 65536 µs
        let after = s.snapshot();
        assert_eq!(after.jobs, 100);
        assert_eq!(after.quantile_upper_us(0.5), 512);
        assert_eq!(after.quantile_upper_us(0.99), 8192);
        assert_eq!(after.quantile_upper_us(1.0), 65536);
        assert_eq!(after.max_us, 40_000);
        let d = after.since(&before);
        assert_eq!(d.jobs, 2);
        assert_eq!(d.quantile_upper_us(0.5), 8192);
        assert_eq!(d.wait_us_lt_pow2.iter().sum::<u64>(), 2);
    }
}
