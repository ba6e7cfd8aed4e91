//! A timeout layer for operations, without retries.

use std::time::Duration;

use weir_core::{Attempt, Operation, Verdict};

use crate::error::AttemptError;
use crate::timeout::AttemptFuture;

/// Timeouts for operations; see [`TimeoutExt::timeout`].
pub trait TimeoutExt<In>: Operation<In> + Sized {
    /// Fails an attempt that takes longer than `limit` with
    /// [`AttemptError::TimedOut`]; a faster attempt's error becomes
    /// [`AttemptError::Failed`]. The inner operation's retry decision
    /// (its [`on_failure`](Operation::on_failure)) still applies to its own
    /// errors; a timeout fails at once. For retries with a per-attempt
    /// timeout, use [`RetryPolicyBuilder::attempt_timeout`](crate::RetryPolicyBuilder::attempt_timeout)
    /// instead. A limit of [`NEVER_AFTER`](weir_core::time::NEVER_AFTER) or
    /// more (such as `Duration::MAX`) never fires.
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
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The wrapped operation.
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
}
