//! Errors: invalid policies, a standalone retried call's error, and the
//! error of an attempt that may time out.

use std::fmt;
use std::time::Duration;

use weir_core::operation::Exhausted;
use weir_core::{Classify, ErrorClass};

/// A retry policy or budget that cannot work: reported by
/// [`RetryPolicy::validate`](crate::RetryPolicy::validate) and
/// [`RetryBudget::validate`](crate::RetryBudget::validate), and, inside a
/// pipeline, as a [`BuildError`](weir_core::BuildError) naming the stage
/// (its message is this one's).
///
/// Each message says what to change.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{InvalidPolicy, RetryPolicy};
///
/// let err = RetryPolicy::exponential(Duration::from_millis(10)).factor(0.5).validate().unwrap_err();
/// assert_eq!(err, InvalidPolicy::FactorBelowOne { factor: 0.5 });
/// assert!(err.to_string().contains("at least 1.0"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPolicy {
    /// The exponential factor is below 1, so delays would shrink.
    #[error(
        "backoff factor {factor} is below 1: use a factor of at least 1.0 (1.0 keeps the delay constant)"
    )]
    FactorBelowOne {
        /// The factor given.
        factor: f64,
    },
    /// The exponential factor is NaN or infinite.
    #[error("backoff factor {factor} is not a finite number: use a finite factor of at least 1.0")]
    FactorNotFinite {
        /// The factor given.
        factor: f64,
    },
    /// The cap is below the base delay, so it would cut every delay.
    #[error("delay cap {cap:?} is below the base delay {base:?}: raise the cap or lower the base delay")]
    CapBelowBase {
        /// The cap given.
        cap: Duration,
        /// The base delay given.
        base: Duration,
    },
    /// `max_attempts(0)`: not even the first attempt would be allowed.
    #[error("max_attempts is 0: allow at least 1 attempt (1 means no retries)")]
    ZeroAttempts,
    /// `max_elapsed(Duration::ZERO)`: no retry could ever start.
    #[error("max_elapsed is zero: give a positive duration, or use max_attempts(1) for no retries")]
    ZeroMaxElapsed,
    /// The budget's ratio is negative, NaN or infinite.
    #[error(
        "retry budget ratio {ratio} is invalid: use a finite number of at least 0.0 (0.2 allows 20 % retries)"
    )]
    InvalidBudgetRatio {
        /// The ratio given.
        ratio: f64,
    },
    /// The budget's window is zero, so it could never hold a deposit.
    #[error("retry budget window is zero: give a positive window, for example 10 s")]
    ZeroBudgetWindow,
}

/// Why a retried call outside a pipeline
/// ([`Retry::call`](crate::Retry::call)) returned no output: the operation
/// failed for good, or the policy is invalid and no attempt was made.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{InvalidPolicy, RetryError, RetryExt, RetryPolicy};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("connection refused")]
/// struct Refused;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let down = |_: u32| async { Err::<(), _>(Refused) };
///
/// let err = down.retry(RetryPolicy::constant(Duration::from_millis(10))).call(1).await.unwrap_err();
/// assert_eq!(err.exhausted().map(|e| e.attempts), Some(3));
/// assert_eq!(err.to_string(), "failed after 3 attempt(s) (transient): connection refused");
///
/// let err = down.retry(RetryPolicy::constant(Duration::from_millis(10)).max_attempts(0)).call(1).await.unwrap_err();
/// assert!(matches!(err, RetryError::InvalidPolicy(InvalidPolicy::ZeroAttempts)));
/// assert_eq!(err.to_string(), "invalid retry policy: max_attempts is 0: allow at least 1 attempt (1 means no retries)");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// The operation failed for good: its last error, class and attempts.
    Exhausted(Exhausted<E>),
    /// The policy is invalid ([`RetryPolicy::validate`](crate::RetryPolicy::validate));
    /// no attempt was made.
    InvalidPolicy(InvalidPolicy),
}

impl<E> RetryError<E> {
    /// The failure, if the operation was tried and failed for good.
    ///
    /// ```
    /// # use weir_retry::{InvalidPolicy, RetryError};
    /// let err: RetryError<std::io::Error> = RetryError::InvalidPolicy(InvalidPolicy::ZeroAttempts);
    /// assert!(err.exhausted().is_none());
    /// ```
    pub fn exhausted(&self) -> Option<&Exhausted<E>> {
        match self {
            RetryError::Exhausted(e) => Some(e),
            RetryError::InvalidPolicy(_) => None,
        }
    }

    /// The failure, if the operation was tried and failed for good.
    ///
    /// ```
    /// # use weir_retry::{InvalidPolicy, RetryError};
    /// let err: RetryError<std::io::Error> = RetryError::InvalidPolicy(InvalidPolicy::ZeroMaxElapsed);
    /// assert!(err.into_exhausted().is_none());
    /// ```
    pub fn into_exhausted(self) -> Option<Exhausted<E>> {
        match self {
            RetryError::Exhausted(e) => Some(e),
            RetryError::InvalidPolicy(_) => None,
        }
    }

    /// What is wrong with the policy, if it is invalid.
    ///
    /// ```
    /// # use weir_retry::{InvalidPolicy, RetryError};
    /// let err: RetryError<std::io::Error> = RetryError::InvalidPolicy(InvalidPolicy::ZeroAttempts);
    /// assert_eq!(err.invalid_policy(), Some(&InvalidPolicy::ZeroAttempts));
    /// ```
    pub fn invalid_policy(&self) -> Option<&InvalidPolicy> {
        match self {
            RetryError::InvalidPolicy(e) => Some(e),
            RetryError::Exhausted(_) => None,
        }
    }
}

impl<E> From<Exhausted<E>> for RetryError<E> {
    fn from(e: Exhausted<E>) -> Self {
        RetryError::Exhausted(e)
    }
}

impl<E> From<InvalidPolicy> for RetryError<E> {
    fn from(e: InvalidPolicy) -> Self {
        RetryError::InvalidPolicy(e)
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryError::Exhausted(e) => e.fmt(f),
            RetryError::InvalidPolicy(e) => write!(f, "invalid retry policy: {e}"),
        }
    }
}

// Transparent, as `AttemptError`: `Display` already shows the inner error.
impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RetryError::Exhausted(e) => e.source(),
            RetryError::InvalidPolicy(_) => None,
        }
    }
}

/// An attempt's time limit ([`TimeoutExt::timeout`](crate::TimeoutExt::timeout)) passed.
///
/// Opaque so fields can be added later; [`timeout`](Elapsed::timeout) is
/// the limit that was exceeded.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{RetryExt, RetryPolicy, TimeoutExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::constant(Duration::from_millis(1)).max_attempts(1);
/// let slow = |x: u32| async move {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, std::io::Error>(x)
/// };
/// let err = slow.timeout(Duration::from_secs(1)).retry(policy).call(1).await.unwrap_err();
/// let exhausted = err.into_exhausted().unwrap();
/// let elapsed = exhausted.cause.error().unwrap().timed_out().unwrap();
/// assert_eq!(elapsed.timeout(), Duration::from_secs(1));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    timeout: Duration,
}

impl Elapsed {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// The time limit that the attempt exceeded.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt timed out after {:?}", self.timeout)
    }
}

impl std::error::Error for Elapsed {}

/// The error of one attempt of an operation with a time limit
/// ([`TimeoutExt::timeout`](crate::TimeoutExt::timeout)): the operation's
/// own error, or the timeout.
///
/// A timeout counts as [`ErrorClass::Transient`] (its [`Classify`] impl);
/// the operation's error keeps its own class.
///
/// # Examples
///
/// ```
/// use weir_retry::AttemptError;
///
/// let e: AttemptError<&str> = AttemptError::Failed("busy");
/// assert_eq!(e.to_string(), "busy");
/// assert_eq!(e.into_inner(), Some("busy"));
/// ```
pub enum AttemptError<E> {
    /// The operation returned this error.
    Failed(E),
    /// The attempt took longer than its time limit.
    TimedOut(Elapsed),
}

impl<E> AttemptError<E> {
    /// The operation's error, if the attempt did not time out.
    ///
    /// ```
    /// # use weir_retry::AttemptError;
    /// assert_eq!(AttemptError::Failed(3).failed(), Some(&3));
    /// ```
    pub fn failed(&self) -> Option<&E> {
        match self {
            AttemptError::Failed(e) => Some(e),
            AttemptError::TimedOut(_) => None,
        }
    }

    /// The timeout, if the attempt timed out.
    ///
    /// ```
    /// # use weir_retry::AttemptError;
    /// assert!(AttemptError::Failed("refused").timed_out().is_none());
    /// ```
    pub fn timed_out(&self) -> Option<&Elapsed> {
        match self {
            AttemptError::TimedOut(e) => Some(e),
            AttemptError::Failed(_) => None,
        }
    }

    /// The operation's error, or `None` if the attempt timed out.
    pub fn into_inner(self) -> Option<E> {
        match self {
            AttemptError::Failed(e) => Some(e),
            AttemptError::TimedOut(_) => None,
        }
    }
}

// Hand-written so that `E: Debug` is the only bound.
impl<E: fmt::Debug> fmt::Debug for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            AttemptError::TimedOut(e) => f.debug_tuple("TimedOut").field(e).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Failed(e) => e.fmt(f),
            AttemptError::TimedOut(e) => e.fmt(f),
        }
    }
}

// Transparent: `Display` already shows the inner error, so `source` skips it
// (otherwise error reporters would print it twice).
impl<E: std::error::Error + 'static> std::error::Error for AttemptError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AttemptError::Failed(e) => e.source(),
            AttemptError::TimedOut(_) => None,
        }
    }
}

impl<E: Classify> Classify for AttemptError<E> {
    fn class(&self) -> ErrorClass {
        match self {
            AttemptError::Failed(e) => e.class(),
            AttemptError::TimedOut(_) => ErrorClass::Transient,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        self.failed().and_then(Classify::retry_after)
    }
}
