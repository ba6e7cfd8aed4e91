//! The retry layer: an operation whose failures are decided by a policy.

use std::fmt;

use weir_core::operation::call;
use weir_core::{Attempt, BuildError, Classify, ErrorClass, Operation, Verdict};

use crate::classify::{AllTransient, ByClassify, Classifier, ClassifyFn};
use crate::error::RetryError;
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
    /// # Errors
    ///
    /// An invalid policy ([`RetryPolicy::validate`]) is reported where the
    /// layer runs, before any attempt: a pipeline's `run()` or `spawn()`
    /// returns [`BuildError::Invalid`] naming the stage, with the policy's
    /// message (through [`Operation::validate`]), and [`Retry::call`]
    /// returns [`RetryError::InvalidPolicy`]. Nothing panics.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{BuildError, Operation};
    /// use weir_retry::{RetryExt, RetryPolicy};
    ///
    /// let lookup = |id: u32| async move { Ok::<_, std::io::Error>(id) };
    /// let policy = RetryPolicy::exponential(Duration::from_millis(10)).factor(0.5);
    /// let err = lookup.retry(policy).validate("lookup").unwrap_err();
    /// assert_eq!(
    ///     err,
    ///     BuildError::Invalid {
    ///         stage: "lookup".to_owned(),
    ///         message: "backoff factor 0.5 is below 1: use a factor of at least 1.0 (1.0 keeps the delay constant)".to_owned(),
    ///     },
    /// );
    /// ```
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
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("attempt {0} failed")]
    /// struct Flaky(u32);
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let flaky = {
    ///     let calls = calls.clone();
    ///     move |x: u32| {
    ///         let n = calls.fetch_add(1, Ordering::SeqCst);
    ///         async move { if n < 2 { Err(Flaky(n + 1)) } else { Ok(x * 10) } }
    ///     }
    /// };
    /// let policy = RetryPolicy::exponential(Duration::from_millis(100)).max_attempts(5);
    /// let start = tokio::time::Instant::now();
    /// let out = flaky.retry(policy).call(4).await?;
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
/// let policy = RetryPolicy::constant(Duration::from_millis(10));
/// let retry: Retry<_> = (|x: u64| async move { Ok::<_, std::io::Error>(x) }).retry(policy);
/// assert_eq!(retry.policy().get_max_attempts(), 3);
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
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10));
    /// let get = |code: u16| async move { Err::<(), _>(Status(code)) };
    /// let retried = get.retry(policy).classify(|e| if e.0 >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent });
    /// let err = retried.call(404).await.unwrap_err();
    /// assert_eq!(err.exhausted().map(|e| (e.attempts, e.class)), Some((1, ErrorClass::Permanent)));
    /// let err = retried.call(503).await.unwrap_err();
    /// assert_eq!(err.exhausted().map(|e| (e.attempts, e.class)), Some((3, ErrorClass::Transient)));
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
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).cap(Duration::from_secs(10)).max_attempts(2);
    /// let start = tokio::time::Instant::now();
    /// let busy = |_: ()| async { Err::<(), _>(Busy) };
    /// assert!(busy.retry(policy).classify_by_trait().call(()).await.is_err());
    /// assert_eq!(start.elapsed(), Duration::from_secs(2)); // as the error asked
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
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).cap(Duration::from_secs(60));
    /// let limited = |_: ()| async { Err::<(), _>(Http { status: 429, retry_after: Some(5) }) };
    /// let start = tokio::time::Instant::now();
    /// let err = limited.retry(policy).classifier(ByStatus).call(()).await.unwrap_err();
    /// assert_eq!(err.exhausted().map(|e| e.attempts), Some(3));
    /// assert_eq!(start.elapsed(), Duration::from_secs(10)); // 5 s, twice
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
    /// between attempts (with [`weir_core::operation::call`]), after
    /// checking the policy ([`RetryPolicy::validate`]), as a pipeline
    /// would when it is built.
    ///
    /// # Errors
    ///
    /// [`RetryError::Exhausted`] with the last error, its class and the
    /// number of attempts when the policy gave up; its cause is
    /// [`Cause::GaveUp`](weir_core::Cause::GaveUp) with the reason
    /// [`RetryBudget::EXHAUSTED`](crate::RetryBudget::EXHAUSTED) if the
    /// retry budget was spent. [`RetryError::InvalidPolicy`] if the policy
    /// is invalid: no attempt is made. (Calling
    /// [`weir_core::operation::call`] on the layer directly skips that
    /// check; an invalid policy then decides within its knobs as given,
    /// without panicking.)
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
    /// let down = |_: &str| async { Err::<(), _>(Refused) };
    /// let policy = RetryPolicy::constant(Duration::from_secs(1)).max_attempts(3);
    /// let err = down.retry(policy).call("GET /").await.unwrap_err();
    /// assert_eq!(err.exhausted().map(|e| e.attempts), Some(3));
    /// assert_eq!(err.to_string(), "failed after 3 attempt(s) (transient): connection refused");
    ///
    /// // An invalid policy: no attempt is made.
    /// let policy = RetryPolicy::constant(Duration::from_secs(1)).max_elapsed(Duration::ZERO);
    /// let err = down.retry(policy).call("GET /").await.unwrap_err();
    /// assert!(matches!(err, RetryError::InvalidPolicy(InvalidPolicy::ZeroMaxElapsed)));
    /// # }
    /// ```
    pub async fn call<In>(
        &self,
        input: In,
    ) -> Result<<Self as Operation<In>>::Output, RetryError<<Self as Operation<In>>::Error>>
    where
        Self: Operation<In>,
        In: Clone,
    {
        self.policy.validate()?;
        Ok(call(self, input).await?)
    }

    /// The retry policy.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::{RetryExt, RetryPolicy};
    /// let retry = (|x: u8| async move { Ok::<_, std::io::Error>(x) }).retry(RetryPolicy::constant(Duration::ZERO));
    /// assert_eq!(retry.policy().get_cap(), Duration::ZERO);
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
    /// let retry = (|x: u8| async move { Ok::<_, std::convert::Infallible>(x) }).retry(RetryPolicy::constant(Duration::ZERO));
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
    /// let retry = (|x: u8| async move { Ok::<_, std::convert::Infallible>(x) }).retry(RetryPolicy::constant(Duration::ZERO));
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

    /// Checks the policy ([`RetryPolicy::validate`]: an invalid one is
    /// [`BuildError::Invalid`] with its message), then the wrapped
    /// operation.
    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.policy.validate().map_err(|e| BuildError::invalid(stage, e))?;
        self.op.validate(stage)
    }

    fn observe(&self, metrics: &weir_core::StageMetrics) {
        self.op.observe(metrics);
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
