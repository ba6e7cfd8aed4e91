//! The source adapter: stops pulling from the source once intake stops.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;
use std::sync::Arc;

use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::control::RunShared;

pin_project! {
    /// Ends the stream, without pulling another item, once intake stops. Unlike `take_until`, a hot source costs one atomic load
    /// per item: the cancellation future is polled only while the source
    /// is waiting.
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct StopOnCancel<St> {
        #[pin]
        stream: St,
        shared: Arc<RunShared>,
        #[pin]
        cancelled: WaitForCancellationFutureOwned,
        done: bool,
    }
}

impl<St> StopOnCancel<St> {
    pub(crate) fn new(stream: St, shared: Arc<RunShared>) -> Self {
        let cancelled = shared.stop.cancelled();
        Self { stream, shared, cancelled, done: false }
    }
}

impl<St: Stream> Stream for StopOnCancel<St> {
    type Item = St::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<St::Item>> {
        let mut this = self.project();
        if *this.done || this.shared.stop.is_cancelled() {
            *this.done = true;
            return Poll::Ready(None);
        }
        match this.stream.poll_next(cx) {
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => {
                if this.cancelled.as_mut().poll(cx).is_ready() {
                    *this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending
            }
        }
    }
}

use std::future::Future;
