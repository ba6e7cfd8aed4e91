//! Error classification, shared by retry and the dead-letter stage.

use std::convert::Infallible;
use std::fmt;

/// What kind of failure an error is, which decides whether it is retried
/// and how its dead-letter record is flagged.
///
/// # Examples
///
/// ```
/// use weir_core::{Classify, ErrorClass};
///
/// #[derive(Debug)]
/// enum DbError { Busy, Constraint }
///
/// impl Classify for DbError {
///     fn class(&self) -> ErrorClass {
///         match self {
///             DbError::Busy => ErrorClass::Transient,
///             DbError::Constraint => ErrorClass::Permanent,
///         }
///     }
/// }
/// assert!(DbError::Busy.class().is_retryable());
/// assert!(!DbError::Constraint.class().is_retryable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The same item may succeed later (a timeout, a busy database): retry.
    Transient,
    /// The item will never succeed (a constraint violation): fail now.
    Permanent,
    /// The item itself is bad and may harm whoever touches it (a panic, a
    /// malformed record): fail now and flag the dead-letter record.
    Poison,
}

impl ErrorClass {
    /// Whether a retry policy may try the item again.
    pub fn is_retryable(self) -> bool {
        self == ErrorClass::Transient
    }

    /// The lowercase name used in reports and dead-letter records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Poison => "poison",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by errors that know their own [`ErrorClass`], and may
/// suggest their own retry delay (a `Retry-After`).
///
/// Errors that do not implement it are classified by a closure given to the
/// retry policy, or counted as transient.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Classify, ErrorClass};
///
/// #[derive(Debug)]
/// struct RateLimited { retry_after: Duration }
///
/// impl Classify for RateLimited {
///     fn class(&self) -> ErrorClass { ErrorClass::Transient }
///     fn retry_after(&self) -> Option<Duration> { Some(self.retry_after) }
/// }
/// let e = RateLimited { retry_after: Duration::from_secs(2) };
/// assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
/// ```
pub trait Classify {
    /// The class of this error.
    fn class(&self) -> ErrorClass;

    /// A delay this error asks for before the next attempt; the retry
    /// policy bounds it by its cap.
    fn retry_after(&self) -> Option<std::time::Duration> {
        None
    }
}

impl Classify for Infallible {
    fn class(&self) -> ErrorClass {
        match *self {}
    }
}
