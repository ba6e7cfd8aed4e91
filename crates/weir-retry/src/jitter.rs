//! Jitter: randomising delays so that clients that failed together do not
//! retry together (the "thundering herd").

use std::time::Duration;

/// How a backoff delay is randomised.
///
/// The formulas follow the AWS Architecture Blog's "Exponential Backoff And
/// Jitter". With `d` the backoff delay, `base` and `cap` the policy's base
/// delay and cap:
///
/// | variant | delay |
/// |---|---|
/// | `None` | `d` |
/// | `Full` | uniform in `[0, d]` |
/// | `Equal` | uniform in `[d/2, d]` |
/// | `Decorrelated` | uniform in `[base, min(cap, 3 × previous delay)]` (ignores the factor) |
///
/// The random source is seedable with
/// [`RetryPolicy::seed`](crate::RetryPolicy::seed), for
/// reproducible tests.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Attempt, ErrorClass, Verdict};
/// use weir_retry::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::exponential(Duration::from_millis(100))
///     .jitter(Jitter::Equal)
///     .seed(7);
/// let Verdict::Retry(delay) = policy.decide(&mut Attempt::first(), ErrorClass::Transient, None) else {
///     panic!("should retry");
/// };
/// assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: exactly the backoff delay.
    #[default]
    None,
    /// Uniform between zero and the backoff delay: spreads retries most,
    /// but a retry may come at once.
    Full,
    /// Half the backoff delay plus a uniform random half: keeps a minimum
    /// wait.
    Equal,
    /// Uniform between the base delay and three times the previous delay,
    /// capped: each delay depends on the last one rather than on the
    /// attempt number.
    Decorrelated,
}

impl Jitter {
    /// Applies the jitter to `delay`; `unit` is a uniform sample in `[0, 1)`.
    pub(crate) fn apply(
        self,
        delay: Duration,
        base: Duration,
        cap: Duration,
        previous: Option<Duration>,
        unit: f64,
    ) -> Duration {
        match self {
            Jitter::None => delay,
            Jitter::Full => scale(delay, unit),
            Jitter::Equal => {
                let half = delay / 2;
                (delay - half) + scale(half, unit)
            }
            Jitter::Decorrelated => {
                let high = previous.unwrap_or(base).max(base).saturating_mul(3).min(cap);
                let low = base.min(high);
                low + scale(high - low, unit)
            }
        }
    }
}

/// `d × unit` for `unit` in `[0, 1)`, never above `d` and never panicking.
fn scale(d: Duration, unit: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * unit).map_or(d, |s| s.min(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (0u64..10_000_000_000).prop_map(Duration::from_nanos),
            Just(Duration::MAX),
            any::<u64>().prop_map(Duration::from_secs),
        ]
    }

    proptest! {
        #[test]
        fn full_is_within_zero_and_delay(d in any_duration(), u in 0.0f64..1.0) {
            prop_assert!(Jitter::Full.apply(d, d, d, None, u) <= d);
        }

        #[test]
        fn equal_is_within_half_and_delay(d in any_duration(), u in 0.0f64..1.0) {
            let j = Jitter::Equal.apply(d, d, d, None, u);
            prop_assert!(j <= d);
            prop_assert!(j >= d / 2);
        }

        #[test]
        fn decorrelated_is_within_base_and_cap(
            base in any_duration(),
            extra in any_duration(),
            prev in proptest::option::of(any_duration()),
            u in 0.0f64..1.0,
        ) {
            let cap = base.saturating_add(extra);
            let j = Jitter::Decorrelated.apply(base, base, cap, prev, u);
            prop_assert!(j >= base);
            prop_assert!(j <= cap);
            let bound = prev.unwrap_or(base).max(base).saturating_mul(3);
            prop_assert!(j <= bound);
        }
    }

    #[test]
    fn none_is_identity() {
        let d = Duration::from_millis(123);
        assert_eq!(Jitter::None.apply(d, d, d, None, 0.99), d);
    }

    #[test]
    fn samples_spread_over_the_range() {
        let d = Duration::from_secs(1);
        assert_eq!(Jitter::Full.apply(d, d, d, None, 0.0), Duration::ZERO);
        assert!(Jitter::Full.apply(d, d, d, None, 0.999) > Duration::from_millis(990));
        assert_eq!(Jitter::Equal.apply(d, d, d, None, 0.0), Duration::from_millis(500));
    }
}
