//! Backoff arithmetic: the delay before a retry, before jitter.
//!
//! `base × factor^(n−1)` for the retry after failed attempt `n`, capped.
//! The arithmetic saturates at the cap: it never overflows or panics, even
//! for `u32::MAX` attempts and `Duration::MAX` caps (tokio-retry#22).

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Constant or exponential growth of the delay (constant is a factor of 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) factor: f64,
    pub(crate) cap: Duration,
}

impl Backoff {
    /// The delay before the retry that follows failed attempt `failed`
    /// (1 for the first attempt), at most the cap.
    pub(crate) fn delay(&self, failed: u32) -> Duration {
        let exp = failed.saturating_sub(1);
        if self.base.is_zero() || exp == 0 || self.factor <= 1.0 {
            return self.base.min(self.cap);
        }
        if self.factor.fract() == 0.0 && self.factor <= f64::from(u32::MAX) {
            // Integral factors (the usual 2 or 3) are computed exactly in nanoseconds.
            let factor = self.factor as u128;
            let nanos = factor.checked_pow(exp).and_then(|p| p.checked_mul(self.base.as_nanos()));
            return match nanos {
                Some(n) if n < self.cap.as_nanos() => from_nanos(n),
                _ => self.cap,
            };
        }
        let secs = self.base.as_secs_f64() * self.factor.powf(f64::from(exp));
        if secs < self.cap.as_secs_f64() {
            Duration::try_from_secs_f64(secs).map_or(self.cap, |d| d.min(self.cap))
        } else {
            self.cap
        }
    }
}

/// `n` nanoseconds, for `n` below `Duration::MAX`.
fn from_nanos(n: u128) -> Duration {
    let secs = (n / NANOS_PER_SEC) as u64;
    let nanos = (n % NANOS_PER_SEC) as u32;
    Duration::new(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exponential_doubles_until_the_cap() {
        let b = Backoff { base: ms(10), factor: 2.0, cap: ms(100) };
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n)).collect();
        assert_eq!(delays, [ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]);
    }

    #[test]
    fn constant_is_factor_one() {
        let b = Backoff { base: ms(25), factor: 1.0, cap: ms(25) };
        assert!((1..50).all(|n| b.delay(n) == ms(25)));
    }

    #[test]
    fn fractional_factor_grows() {
        let b = Backoff { base: ms(100), factor: 1.5, cap: Duration::from_secs(10) };
        assert_eq!(b.delay(2), ms(150));
        assert_eq!(b.delay(3), ms(225));
    }

    #[test]
    fn huge_attempts_saturate_at_the_cap() {
        for factor in [2.0, 1.0001, 10.0, 4_294_967_295.0, 1e300] {
            let b = Backoff { base: Duration::MAX, factor, cap: Duration::MAX };
            assert_eq!(b.delay(u32::MAX), Duration::MAX);
            let b = Backoff { base: ms(1), factor, cap: Duration::from_secs(60) };
            assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        }
    }

    #[test]
    fn zero_base_stays_zero() {
        let b = Backoff { base: Duration::ZERO, factor: 3.0, cap: ms(5) };
        assert_eq!(b.delay(40), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn delay_never_exceeds_cap_and_never_shrinks(
            base in 0u64..10_000_000,
            extra in 0u64..u64::MAX / 2,
            factor in 1.0f64..20.0,
            n in 1u32..u32::MAX,
        ) {
            let base = Duration::from_nanos(base);
            let cap = base.saturating_add(Duration::from_nanos(extra));
            let b = Backoff { base, factor, cap };
            let d = b.delay(n);
            prop_assert!(d <= cap);
            prop_assert!(d >= base);
            prop_assert!(b.delay(n.saturating_add(1)) >= d);
        }
    }
}
