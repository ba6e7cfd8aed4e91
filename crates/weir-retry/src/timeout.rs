//! The future of one attempt bounded by a time limit, for
//! [`Timeout`](crate::Timeout).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use weir_core::time::deadline_after;

use crate::error::{AttemptError, Elapsed};

pin_project! {
    /// One attempt bounded by a time limit; the future of
    /// [`Timeout`](crate::Timeout) (made by
    /// [`TimeoutExt::timeout`](crate::TimeoutExt::timeout)).
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
    /// use weir_retry::TimeoutExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let op = (|x: u32| async move { Ok::<_, std::io::Error>(x + 1) }).timeout(Duration::from_secs(1));
    /// let attempt: weir_retry::AttemptFuture<_> = op.apply(1);
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
