//! The retry layer: an operation whose failures are decided by a policy.

use std::fmt;

use weir_core::operation::{Exhausted, call};
use weir_core::{Attempt, BuildError, Classify, ErrorClass, Operation, Verdict};

use crate::classify::{AllTransient, ByClassify, Classifier, ClassifyFn};
use crate::policy::{RetryPolicy, trace};

/// Adds [`retry`](RetryExt::retry) to every [`Operation`].
///
/// Implemented for every `Operation<In>`, closures
/// `Fn(In) -> impl Future<Output = Result<Out, E>>` included.
pub trait RetryExt<In>: Operation<In> + Sized {
    /// Retries this operation's failures as `policy` decides.
    ///
    /// The returned [`Retry`] is an [`Operation`] itself: each
    /// [`apply`](Operation::apply) is **one** attempt, and its
    /// [`on_failure`](Operation::on_failure) asks the policy whether and
    /// when to try again. Whoever runs it does the waiting: a weir fan-out
    /// parks the item on a timer and serves other items meanwhile, and
    /// [`Retry::call`] (for use outside a pipeline) sleeps between attempts.
    ///
    /// Every error is retried (as [`ErrorClass::Transient`]) within the
    /// policy's limits. To retry only the errors worth it, classify them
    /// on the returned layer, where the error type is known:
    /// [`classify(|e| …)`](Retry::classify) or
    /// [`classify_by_trait()`](Retry::classify_by_trait) (the error's own
    /// [`Classify`] impl, with its `retry_after`).
    ///
    /// Every attempt needs the item again, so running the retried
    /// operation requires `In: Clone`, as tower's `Retry` does: wrap large
    /// items in `Arc` or use `Bytes` to make that cheap.
    ///
    /// Each attempt deposits in the policy's [`RetryBudget`](crate::RetryBudget)
    /// (if any) and each retry withdraws; the budget absorbs the deposits
    /// of granted retries, so only first attempts fill it (the layer cannot
    /// tell a first attempt from a retry in `apply`, the budget can). Every decision emits a `DEBUG`
    /// tracing event with the attempt number, the delay or the reason for
    /// giving up, and the error (hence `Error: Display`).
    ///
    /// To bound each attempt in time, put a
    /// [`timeout`](crate::TimeoutExt::timeout) *under* the retry:
    /// `op.timeout(d).retry(policy)` times out every attempt on its own
    /// and retries the timeouts (the error becomes
    /// [`AttemptError`](crate::AttemptError), and a timeout is transient).
    /// See [`TimeoutExt::timeout`](crate::TimeoutExt::timeout) for the
    /// other order.
    ///
    /// # Cancellation safety
    ///
    /// Dropping an attempt's future drops the inner operation's future;
    /// nothing else is held between attempts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use weir_retry::{RetryExt, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let flaky = {
    ///     let calls = calls.clone();
    ///     move |x: u32| {
    ///         let n = calls.fetch_add(1, Ordering::SeqCst);
    ///         async move { if n < 2 { Err(format!("attempt {} failed", n + 1)) } else { Ok(x * 10) } }
    ///     }
    /// };
    /// let policy = RetryPolicy::exponential(Duration::from_millis(100)).max_attempts(5).build()?;
    /// let start = tokio::time::Instant::now();
    /// let out = flaky.retry(policy).call(4).await.map_err(|e| e.to_string())?;
    /// assert_eq!(out, 40);
    /// assert_eq!(calls.load(Ordering::SeqCst), 3);
    /// assert_eq!(start.elapsed(), Duration::from_millis(300)); // 100 ms, then 200 ms
    /// # Ok(())
    /// # }
    /// ```
    fn retry(self, policy: RetryPolicy) -> Retry<Self> {
        Retry { op: self, policy, classifier: AllTransient }
    }
}

impl<In, Op: Operation<In>> RetryExt<In> for Op {}

/// An operation whose failures are retried by a [`RetryPolicy`]; made by
/// [`RetryExt::retry`]. `K` is the [`Classifier`] that tells which errors
/// are worth retrying: every error by default ([`AllTransient`]), set with
/// [`classify`](Retry::classify) or
/// [`classify_by_trait`](Retry::classify_by_trait).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{Retry, RetryExt, RetryPolicy};
///
/// let policy = RetryPolicy::constant(Duration::from_millis(10)).build()?;
/// let retry: Retry<_> = (|x: u64| async move { Ok::<_, std::io::Error>(x) }).retry(policy);
/// assert_eq!(retry.policy().max_attempts(), 3);
/// # Ok::<(), weir_retry::InvalidPolicy>(())
/// ```
pub struct Retry<Op, K = AllTransient> {
    op: Op,
    policy: RetryPolicy,
    classifier: K,
}

impl<Op, K> Retry<Op, K> {
    /// Retries only the errors `f` classes as
    /// [`ErrorClass::Transient`]; a [`Permanent`](ErrorClass::Permanent)
    /// or [`Poison`](ErrorClass::Poison) error fails the item at once.
    /// `f` receives the operation's error, whose type is known here, so
    /// the closure needs no annotation. (Under a
    /// [`timeout`](crate::TimeoutExt::timeout), the error is an
    /// [`AttemptError`](crate::AttemptError).)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::ErrorClass;
    /// use weir_retry::{RetryExt, RetryPolicy};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("HTTP {0}")]
    /// struct Status(u16);
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), weir_retry::InvalidPolicy> {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).build()?;
    /// let not_found = |_: ()| async { Err::<(), _>(Status(404)) };
    /// let retried = not_found
    ///     .retry(policy)
    ///     .classify(|e| if e.0 >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent });
    /// let err = retried.call(()).await.unwrap_err();
    /// assert_eq!((err.attempts, err.class), (1, ErrorClass::Permanent));
    /// # Ok(())
    /// # }
    /// ```
    pub fn classify<In, F>(self, f: F) -> Retry<Op, ClassifyFn<F>>
    where
        Op: Operation<In>,
        F: Fn(&Op::Error) -> ErrorClass + Send + Sync + 'static,
    {
        self.classifier(ClassifyFn::new(f))
    }

    /// Classifies errors by their own [`Classify`] impl, honouring their
    /// [`retry_after`](Classify::retry_after) (bounded by the policy's
    /// cap).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Classify, ErrorClass};
    /// use weir_retry::{RetryExt, RetryPolicy};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("busy")]
    /// struct Busy;
    ///
    /// impl Classify for Busy {
    ///     fn class(&self) -> ErrorClass { ErrorClass::Transient }
    ///     fn retry_after(&self) -> Option<Duration> { Some(Duration::from_secs(2)) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), weir_retry::InvalidPolicy> {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).cap(Duration::from_secs(10)).max_attempts(2).build()?;
    /// let start = tokio::time::Instant::now();
    /// let busy = |_: ()| async { Err::<(), _>(Busy) };
    /// assert!(busy.retry(policy).classify_by_trait().call(()).await.is_err());
    /// assert_eq!(start.elapsed(), Duration::from_secs(2)); // as the error asked
    /// # Ok(())
    /// # }
    /// ```
    pub fn classify_by_trait<In>(self) -> Retry<Op, ByClassify>
    where
        Op: Operation<In>,
        Op::Error: Classify,
    {
        self.classifier(ByClassify)
    }

    /// Classifies errors with any [`Classifier`]: one that also derives a
    /// delay from the error, or one shared by several layers.
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
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), weir_retry::InvalidPolicy> {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).cap(Duration::from_secs(60)).build()?;
    /// let limited = |_: ()| async { Err::<(), _>(Http { status: 429, retry_after: Some(5) }) };
    /// let start = tokio::time::Instant::now();
    /// let err = limited.retry(policy).classifier(ByStatus).call(()).await.unwrap_err();
    /// assert_eq!(err.attempts, 3);
    /// assert_eq!(start.elapsed(), Duration::from_secs(10)); // 5 s, twice
    /// # Ok(())
    /// # }
    /// ```
    pub fn classifier<In, K2>(self, classifier: K2) -> Retry<Op, K2>
    where
        Op: Operation<In>,
        K2: Classifier<Op::Error>,
    {
        Retry { op: self.op, policy: self.policy, classifier }
    }

    /// Runs one item through the operation outside any pipeline, sleeping
    /// between attempts (with [`weir_core::operation::call`]).
    ///
    /// # Errors
    ///
    /// [`Exhausted`] with the last error, its class and the number of
    /// attempts when the policy gave up; its cause is
    /// [`Cause::GaveUp`](weir_core::Cause::GaveUp) with the reason
    /// [`RetryBudget::EXHAUSTED`](crate::RetryBudget::EXHAUSTED) if the
    /// retry budget was spent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_retry::{RetryExt, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_secs(1)).max_attempts(3).build().unwrap();
    /// let down = |_: &str| async { Err::<(), _>("connection refused") };
    /// let err = down.retry(policy).call("GET /").await.unwrap_err();
    /// assert_eq!(err.attempts, 3);
    /// assert_eq!(err.to_string(), "failed after 3 attempt(s) (transient): connection refused");
    /// # }
    /// ```
    pub async fn call<In>(
        &self,
        input: In,
    ) -> Result<<Self as Operation<In>>::Output, Exhausted<<Self as Operation<In>>::Error>>
    where
        Self: Operation<In>,
        In: Clone,
    {
        call(self, input).await
    }

    /// The retry policy.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::{RetryExt, RetryPolicy};
    /// let retry = (|x: u8| async move { Ok::<_, String>(x) }).retry(RetryPolicy::constant(Duration::ZERO).build()?);
    /// assert_eq!(retry.policy().cap(), Duration::ZERO);
    /// # Ok::<(), weir_retry::InvalidPolicy>(())
    /// ```
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wrapped operation.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::{RetryExt, RetryPolicy};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let retry = (|x: u8| async move { Ok::<_, String>(x) }).retry(RetryPolicy::constant(Duration::ZERO).build().unwrap());
    /// assert_eq!((retry.get_ref())(7).await, Ok(7));
    /// # }
    /// ```
    pub fn get_ref(&self) -> &Op {
        &self.op
    }

    /// Unwraps the operation, dropping the policy.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::{RetryExt, RetryPolicy};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let retry = (|x: u8| async move { Ok::<_, String>(x) }).retry(RetryPolicy::constant(Duration::ZERO).build().unwrap());
    /// assert_eq!((retry.into_inner())(7).await, Ok(7));
    /// # }
    /// ```
    pub fn into_inner(self) -> Op {
        self.op
    }
}

impl<In, Op, K> Operation<In> for Retry<Op, K>
where
    Op: Operation<In>,
    Op::Error: fmt::Display,
    K: Classifier<Op::Error>,
{
    type Output = Op::Output;
    type Error = Op::Error;
    type Future = Op::Future;

    fn apply(&self, input: In) -> Self::Future {
        self.policy.deposit();
        self.op.apply(input)
    }

    fn on_failure(&self, attempt: &mut Attempt, error: &Op::Error) -> Verdict {
        let classifier = &self.classifier;
        let (verdict, reason) =
            self.policy.verdict(attempt, classifier.class(error), classifier.retry_after(error));
        trace(attempt, verdict, reason, Some(error));
        verdict
    }

    /// Checks the wrapped operation (the policy was checked when it was
    /// built).
    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.op.validate(stage)
    }
}

impl<Op: Clone, K: Clone> Clone for Retry<Op, K> {
    fn clone(&self) -> Self {
        Self { op: self.op.clone(), policy: self.policy.clone(), classifier: self.classifier.clone() }
    }
}

impl<Op, K> fmt::Debug for Retry<Op, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry").field("policy", &self.policy).finish_non_exhaustive()
    }
}
