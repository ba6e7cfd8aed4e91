//! A timeout layer for operations: the one way to bound an attempt in
//! time, with or without retries.

use std::time::Duration;

use weir_core::{Attempt, BuildError, Operation, Verdict};

use crate::error::AttemptError;
use crate::timeout::AttemptFuture;

/// Timeouts for operations; see [`TimeoutExt::timeout`].
pub trait TimeoutExt<In>: Operation<In> + Sized {
    /// Fails an attempt that takes longer than `limit` with
    /// [`AttemptError::TimedOut`] (the attempt is dropped, which frees its
    /// worker); a faster attempt's error becomes [`AttemptError::Failed`].
    /// A limit of [`NEVER_AFTER`](weir_core::time::NEVER_AFTER) or more
    /// (such as `Duration::MAX`) never fires.
    ///
    /// Every attempt is timed on its own: whoever runs the operation calls
    /// [`apply`](Operation::apply) once per attempt. The order of the
    /// layers decides what happens to a timeout:
    ///
    /// - `op.timeout(d).retry(policy)`: the retry sees timeouts and retries
    ///   them as transient, within the policy's limits. Its classifier sees
    ///   [`AttemptError<E>`](AttemptError): the default and
    ///   [`classify_by_trait`](crate::Retry::classify_by_trait)
    ///   take a timeout as transient and classify the operation's own
    ///   errors as before; a closure given to
    ///   [`classify`](crate::Retry::classify) receives
    ///   `&AttemptError<E>`.
    /// - `op.retry(policy).timeout(d)`: a timeout fails the item at once;
    ///   the inner operation's retry decision (its
    ///   [`on_failure`](Operation::on_failure)) still applies to its own
    ///   errors.
    ///
    /// # Errors
    ///
    /// A zero `limit` would time out every attempt that does not finish at
    /// once: the pipeline that runs the operation refuses it with
    /// [`BuildError::Invalid`] before anything starts (see
    /// [`Operation::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::operation::call;
    /// use weir_retry::{AttemptError, TimeoutExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // Item 3 hangs: it fails after 100 ms instead of holding its worker.
    /// let lookup = |x: u64| async move {
    ///     if x == 3 {
    ///         std::future::pending::<()>().await
    ///     }
    ///     Ok::<_, std::convert::Infallible>(x)
    /// };
    /// let op = lookup.timeout(Duration::from_millis(100));
    /// assert_eq!(call(&op, 4).await.unwrap(), 4);
    /// let start = tokio::time::Instant::now();
    /// let failed = call(&op, 3).await.unwrap_err();
    /// assert!(matches!(failed.cause.error(), Some(AttemptError::TimedOut(_))));
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// # }
    /// ```
    /// Retried timeouts, one attempt at a time:
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_retry::{AttemptError, RetryExt, RetryPolicy, TimeoutExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(2);
    /// let hangs = |_: ()| std::future::pending::<Result<(), std::io::Error>>();
    /// let start = tokio::time::Instant::now();
    /// let err = hangs.timeout(Duration::from_millis(100)).retry(policy).call(()).await.unwrap_err();
    /// let err = err.into_exhausted().unwrap();
    /// assert!(matches!(err.cause.error(), Some(AttemptError::TimedOut(_))));
    /// assert_eq!(err.attempts, 2);
    /// assert_eq!(start.elapsed(), Duration::from_millis(210)); // 100 ms, 10 ms, 100 ms
    /// # }
    /// ```
    fn timeout(self, limit: Duration) -> Timeout<Self> {
        Timeout { op: self, limit }
    }
}

impl<In, Op: Operation<In>> TimeoutExt<In> for Op {}

/// An operation whose attempts time out; see [`TimeoutExt::timeout`].
#[derive(Debug, Clone)]
pub struct Timeout<Op> {
    op: Op,
    limit: Duration,
}

impl<Op> Timeout<Op> {
    /// The time limit of one attempt.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::TimeoutExt;
    /// let op = (|x: u8| async move { Ok::<_, std::convert::Infallible>(x) }).timeout(Duration::from_secs(3));
    /// assert_eq!(op.limit(), Duration::from_secs(3));
    /// ```
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The wrapped operation.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use weir_retry::TimeoutExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let op = (|x: u8| async move { Ok::<_, std::convert::Infallible>(x) }).timeout(Duration::from_secs(3));
    /// assert_eq!((op.into_inner())(7).await, Ok(7));
    /// # }
    /// ```
    pub fn into_inner(self) -> Op {
        self.op
    }
}

impl<In, Op: Operation<In>> Operation<In> for Timeout<Op> {
    type Output = Op::Output;
    type Error = AttemptError<Op::Error>;
    type Future = AttemptFuture<Op::Future>;

    fn apply(&self, input: In) -> Self::Future {
        AttemptFuture::new(self.op.apply(input), self.limit)
    }

    fn on_failure(&self, attempt: &mut Attempt, error: &Self::Error) -> Verdict {
        match error {
            AttemptError::Failed(inner) => self.op.on_failure(attempt, inner),
            AttemptError::TimedOut(_) => Verdict::Fail(weir_core::ErrorClass::Transient),
        }
    }

    /// Refuses a zero limit, then checks the wrapped operation.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{BuildError, Operation};
    /// use weir_retry::{RetryExt, RetryPolicy, TimeoutExt};
    ///
    /// let lookup = |x: u32| async move { Ok::<_, std::io::Error>(x) };
    /// let op = lookup.timeout(Duration::ZERO).retry(RetryPolicy::constant(Duration::ZERO));
    /// let Err(BuildError::Invalid { stage, message }) = op.validate("lookup") else { panic!() };
    /// assert_eq!(stage, "lookup");
    /// assert!(message.contains("give a positive duration"), "{message}");
    /// ```
    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        if self.limit.is_zero() {
            return Err(BuildError::Invalid {
                stage: stage.to_owned(),
                message: "the attempt timeout is zero, so every attempt that does not finish at once \
                          would time out: give a positive duration, or leave the timeout out"
                    .to_owned(),
            });
        }
        self.op.validate(stage)
    }

    fn observe(&self, metrics: &weir_core::StageMetrics) {
        self.op.observe(metrics);
    }
}
