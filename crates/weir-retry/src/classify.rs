//! Classifiers: how a retry layer tells transient errors from permanent
//! and poison ones.

use std::fmt;
use std::time::Duration;

use weir_core::{Classify, ErrorClass};

/// Classifies an operation's (or a sink's) errors for a retry layer: the
/// error's [`ErrorClass`], and a delay it asks for (a `Retry-After`), if
/// any.
///
/// The classifier belongs to the layer, where the error type is known, not
/// to the [`RetryPolicy`](crate::RetryPolicy), which any layer can use.
/// weir provides three: [`AllTransient`] (the default), [`ByClassify`]
/// (the error's own [`Classify`] impl, chosen with
/// [`Retry::classify_by_trait`](crate::Retry::classify_by_trait)) and
/// [`ClassifyFn`] (a closure, chosen with
/// [`Retry::classify`](crate::Retry::classify)); the same methods exist on
/// [`RetrySink`](crate::RetrySink). Implement it for your own type to
/// derive both the class and the delay from the error, and set it with
/// [`Retry::classifier`](crate::Retry::classifier).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::ErrorClass;
/// use weir_retry::{Classifier, RetryExt, RetryPolicy};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("HTTP {status}")]
/// struct Http { status: u16, retry_after: Option<u64> }
///
/// /// 429 and 5xx are worth retrying, after the delay the server asks.
/// struct ByStatus;
///
/// impl Classifier<Http> for ByStatus {
///     fn class(&self, e: &Http) -> ErrorClass {
///         if e.status == 429 || e.status >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent }
///     }
///     fn retry_after(&self, e: &Http) -> Option<Duration> {
///         e.retry_after.map(Duration::from_secs)
///     }
/// }
///
/// assert_eq!(ByStatus.class(&Http { status: 404, retry_after: None }), ErrorClass::Permanent);
/// let busy = Http { status: 503, retry_after: Some(2) };
/// assert_eq!(ByStatus.retry_after(&busy), Some(Duration::from_secs(2)));
///
/// let get = |path: &'static str| async move { if path == "/" { Ok(200) } else { Err(Http { status: 404, retry_after: None }) } };
/// let policy = RetryPolicy::exponential(Duration::from_millis(100));
/// let get = get.retry(policy).classifier(ByStatus);
/// ```
pub trait Classifier<E>: Send + Sync + 'static {
    /// The class of `error`: only [`ErrorClass::Transient`] is retried.
    fn class(&self, error: &E) -> ErrorClass;

    /// A delay `error` asks for before the next attempt; the policy uses it
    /// instead of its backoff, bounded by its cap. `None` by default.
    fn retry_after(&self, error: &E) -> Option<Duration> {
        let _ = error;
        None
    }
}

/// The default classifier: every error is transient, so every failure is
/// retried (within the policy's limits).
///
/// # Examples
///
/// ```
/// use weir_core::ErrorClass;
/// use weir_retry::{AllTransient, Classifier};
///
/// assert_eq!(AllTransient.class(&"anything"), ErrorClass::Transient);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllTransient;

impl<E> Classifier<E> for AllTransient {
    fn class(&self, _: &E) -> ErrorClass {
        ErrorClass::Transient
    }
}

/// Classifies errors by their own [`Classify`] impl, including their
/// [`retry_after`](Classify::retry_after).
///
/// # Examples
///
/// ```
/// use weir_core::{Classify, ErrorClass};
/// use weir_retry::{ByClassify, Classifier};
///
/// struct Constraint;
/// impl Classify for Constraint {
///     fn class(&self) -> ErrorClass { ErrorClass::Permanent }
/// }
/// assert_eq!(ByClassify.class(&Constraint), ErrorClass::Permanent);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByClassify;

impl<E: Classify> Classifier<E> for ByClassify {
    fn class(&self, error: &E) -> ErrorClass {
        error.class()
    }

    fn retry_after(&self, error: &E) -> Option<Duration> {
        error.retry_after()
    }
}

/// Classifies errors with a closure `Fn(&E) -> ErrorClass`; made by
/// [`Retry::classify`](crate::Retry::classify) and
/// [`RetrySink::classify`](crate::RetrySink::classify).
///
/// # Examples
///
/// ```
/// use weir_core::ErrorClass;
/// use weir_retry::{Classifier, ClassifyFn};
///
/// let by_code = ClassifyFn::new(|code: &i32| if *code < 0 { ErrorClass::Poison } else { ErrorClass::Transient });
/// assert_eq!(by_code.class(&-1), ErrorClass::Poison);
/// ```
#[derive(Clone, Copy)]
pub struct ClassifyFn<F> {
    f: F,
}

impl<F> ClassifyFn<F> {
    /// Wraps a closure `Fn(&E) -> ErrorClass`.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<F> fmt::Debug for ClassifyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifyFn").finish_non_exhaustive()
    }
}

impl<E, F> Classifier<E> for ClassifyFn<F>
where
    F: Fn(&E) -> ErrorClass + Send + Sync + 'static,
{
    fn class(&self, error: &E) -> ErrorClass {
        (self.f)(error)
    }
}
