//! Per-attempt timeouts: the policy's type records whether attempts have
//! one, so that the retried operation's error type says whether it can
//! time out.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use weir_core::time::deadline_after;

use crate::error::{AttemptError, Elapsed};

/// Marks a [`RetryPolicy`](crate::RetryPolicy) without a per-attempt
/// timeout: the retried operation keeps its error type.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{NoTimeout, RetryPolicy};
///
/// let policy: RetryPolicy<_, NoTimeout> = RetryPolicy::constant(Duration::from_millis(1)).build()?;
/// assert_eq!(policy.attempt_timeout(), None);
/// # Ok::<(), weir_retry::InvalidPolicy>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoTimeout;

/// Marks a [`RetryPolicy`](crate::RetryPolicy) with a per-attempt timeout,
/// set by [`attempt_timeout`](crate::RetryPolicyBuilder::attempt_timeout):
/// the retried operation's error is [`AttemptError`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_retry::{RetryPolicy, WithTimeout};
///
/// let policy: RetryPolicy<_, WithTimeout> =
///     RetryPolicy::constant(Duration::from_millis(1)).attempt_timeout(Duration::from_secs(1)).build()?;
/// assert_eq!(policy.attempt_timeout(), Some(Duration::from_secs(1)));
/// # Ok::<(), weir_retry::InvalidPolicy>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithTimeout {
    timeout: Duration,
}

impl WithTimeout {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    pub(crate) fn get(self) -> Duration {
        self.timeout
    }
}

pin_project! {
    /// One attempt bounded by the policy's attempt timeout; the future of
    /// [`Retry`](crate::Retry) with a [`WithTimeout`] policy.
    ///
    /// Resolves to the attempt's output, its error as
    /// [`AttemptError::Failed`], or [`AttemptError::TimedOut`] when the
    /// timeout fires first (the attempt is then dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::Operation;
    /// use weir_retry::{RetryExt, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::ZERO).attempt_timeout(Duration::from_secs(1)).build().unwrap();
    /// let retry = (|x: u32| async move { Ok::<_, std::io::Error>(x + 1) }).retry(policy);
    /// let attempt: weir_retry::AttemptFuture<_> = retry.apply(1);
    /// assert_eq!(attempt.await.unwrap(), 2);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct AttemptFuture<Fut> {
        #[pin]
        inner: Fut,
        // `None` when the timeout is so long that it means "never".
        #[pin]
        deadline: Option<Sleep>,
        timeout: Duration,
    }
}

impl<Fut: Future> AttemptFuture<Fut> {
    pub(crate) fn new(inner: Fut, timeout: Duration) -> Self {
        let deadline = deadline_after(timeout).map(tokio::time::sleep_until);
        Self { inner, deadline, timeout }
    }
}

impl<Fut, T, E> Future for AttemptFuture<Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, AttemptError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(outcome) = this.inner.poll(cx) {
            return Poll::Ready(outcome.map_err(AttemptError::Failed));
        }
        match this.deadline.as_pin_mut() {
            Some(deadline) => {
                ready!(deadline.poll(cx));
                Poll::Ready(Err(AttemptError::TimedOut(Elapsed::new(*this.timeout))))
            }
            None => Poll::Pending,
        }
    }
}
