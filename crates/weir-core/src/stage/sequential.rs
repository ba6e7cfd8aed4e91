//! The machinery of the asynchronous inline stages (`then`, `try_then`):
//! one future at a time, in order, one item pulled from upstream at a time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::chunk::Chunks;

pin_project! {
    /// Runs `start`'s future for each item, one at a time. It pulls one
    /// item at a time from upstream (a chunk of one), as its futures may
    /// wait: a stage that waits holds no item ahead, so that what a drain
    /// deadline or an abort abandons there is the item being worked on,
    /// and a source with acknowledgements redelivers no more than that. It
    /// hands each output on as soon as it is made, so that nothing is
    /// pulled for the next item before downstream has seen this one (a
    /// halt after it stops intake right there).
    #[must_use = "chunks do nothing unless polled"]
    pub(crate) struct Sequential<C: Chunks, F, Fut> {
        input: C,
        // The item pulled and not started yet.
        inbox: Vec<C::Item>,
        start: F,
        #[pin]
        running: Option<Fut>,
        ended: bool,
    }
}

impl<C: Chunks, F, Fut> Sequential<C, F, Fut> {
    pub(crate) fn new(input: C, start: F) -> Self {
        Self { input, inbox: Vec::new(), start, running: None, ended: false }
    }
}

impl<C, F, Fut> Chunks for Sequential<C, F, Fut>
where
    C: Chunks + Unpin,
    F: FnMut(C::Item) -> Fut,
    Fut: Future,
{
    type Item = Fut::Output;

    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _want: usize,
        out: &mut Vec<Fut::Output>,
    ) -> Poll<bool> {
        let mut this = self.project();
        loop {
            if let Some(fut) = this.running.as_mut().as_pin_mut() {
                let output = ready!(fut.poll(cx));
                this.running.set(None);
                out.push(output);
                return Poll::Ready(true);
            }
            if let Some(item) = this.inbox.pop() {
                this.running.set(Some((this.start)(item)));
                continue;
            }
            if *this.ended || !ready!(Pin::new(&mut *this.input).poll_chunk(cx, 1, this.inbox)) {
                *this.ended = true;
                return Poll::Ready(false);
            }
        }
    }
}
