//! Retry timing: exponential backoff with full jitter (AWS architecture blog),
//! honouring the server's `Retry-After`. The RNG is seedable so tests can check
//! the exact schedule.

use crate::clock::ms;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Decides how long to wait before the next attempt.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_retry_after: Duration,
    rng: SmallRng,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, max_retry_after: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            max_retry_after,
            rng: SmallRng::seed_from_u64(seed),
            failures: 0,
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The ceiling for attempt `n` (1-based): min(cap, base * 2^(n-1)).
    pub fn ceiling(&self, n: u32) -> Duration {
        // base * 2^(n-1), saturating: a shift (`saturating_mul` is 128-bit on wasm32).
        let shift = n.saturating_sub(1).min(30);
        let base = ms(self.base) as u64;
        let ms = if base > u64::MAX >> shift {
            u64::MAX
        } else {
            base << shift
        };
        Duration::from_millis(ms).min(self.cap)
    }

    /// Records a failure and returns the delay before the next attempt:
    /// `Retry-After` clamped to [base, max_retry_after] when the server gave one
    /// (the floor is `base`, not a jittered delay: a `Retry-After: 0` or a past
    /// date never retries in a tight loop, and the schedule stays predictable),
    /// otherwise a uniform random delay in [0, ceiling(n)] (full jitter).
    pub fn fail(&mut self, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after).max(self.base);
        }
        let ceiling = ms(self.ceiling(self.failures)) as u64;
        Duration::from_millis(self.rng.random_range(0..=ceiling))
    }

    /// A success resets the schedule.
    pub fn succeed(&mut self) {
        self.failures = 0;
    }
}

/// Parses a `Retry-After` header value: delta-seconds or an HTTP date
/// (relative to `now_millis`). Past dates give zero.
pub fn parse_retry_after(value: &str, now_millis: i64) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = when.timestamp_millis() - now_millis;
    Some(Duration::from_millis(ms.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(seed: u64) -> Backoff {
        Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(300),
            Duration::from_secs(3600),
            seed,
        )
    }

    #[test]
    fn ceilings_double_to_the_cap() {
        let b = backoff(1);
        let c: Vec<u64> = (1..=12).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(c, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.ceiling(100), Duration::from_secs(300));
    }

    #[test]
    fn full_jitter_is_within_ceiling_and_seeded() {
        let mut a = backoff(42);
        let mut b = backoff(42);
        let mut other = backoff(7);
        let sa: Vec<Duration> = (0..10).map(|_| a.fail(None)).collect();
        let sb: Vec<Duration> = (0..10).map(|_| b.fail(None)).collect();
        let so: Vec<Duration> = (0..10).map(|_| other.fail(None)).collect();
        assert_eq!(sa, sb, "same seed, same schedule");
        assert_ne!(sa, so, "different seed, different schedule");
        for (i, d) in sa.iter().enumerate() {
            assert!(*d <= a.ceiling(i as u32 + 1), "attempt {} got {d:?}", i + 1);
        }
        // Jitter really spreads: not every delay sits at its ceiling.
        assert!(sa
            .iter()
            .enumerate()
            .any(|(i, d)| *d < a.ceiling(i as u32 + 1)));
        a.succeed();
        assert_eq!(a.failures(), 0);
        assert!(a.fail(None) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        let mut b = backoff(1);
        assert_eq!(b.fail(Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(
            b.fail(Some(Duration::from_secs(99_999))),
            Duration::from_secs(3600)
        );
        assert_eq!(
            b.fail(Some(Duration::ZERO)),
            Duration::from_secs(1),
            "floor: base"
        );
        assert_eq!(b.failures(), 3);
    }

    #[test]
    fn parses_both_retry_after_forms() {
        assert_eq!(
            parse_retry_after(" 120 ", 0),
            Some(Duration::from_secs(120))
        );
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
