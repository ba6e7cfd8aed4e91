//! Counting adapters: every stage's output is counted here, so that stages
//! themselves only count what they drop or fail. What a stage received is
//! what the stage before it emitted: the same stream, counted once.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use crate::envelope::Envelope;
use crate::failure::Failure;
use crate::metrics::{Shard, StageRef};

/// Something a counted stream yields: how many source items pass.
pub(crate) trait Passing {
    fn passing(&self) -> u64;
}

impl<T> Passing for Envelope<T> {
    fn passing(&self) -> u64 {
        self.count()
    }
}

impl<T, I, E> Passing for Result<Envelope<T>, Failure<I, E>> {
    fn passing(&self) -> u64 {
        self.as_ref().map_or(0, Envelope::count)
    }
}

pin_project! {
    /// Counts the items a stream yields as emitted by a stage, inside the
    /// stage's tracing span.
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct Counted<St> {
        #[pin]
        stream: St,
        // This stream's own shard of the stage's `emitted` counter: a plain
        // store per item, no atomic add.
        emitted: Shard,
        // The stage's span, entered while the stage runs (a disabled span
        // costs a branch).
        span: tracing::Span,
    }
}

impl<St> Counted<St> {
    pub(crate) fn new(stream: St, stage: StageRef) -> Self {
        let span = tracing::debug_span!("weir.stage", stage = stage.name());
        Self { stream, emitted: stage.metrics().emitted.shard(), span }
    }
}

impl<St> Stream for Counted<St>
where
    St: Stream,
    St::Item: Passing,
{
    type Item = St::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let _entered = this.span.enter();
        let polled = this.stream.poll_next(cx);
        if let Poll::Ready(Some(item)) = &polled {
            this.emitted.add(item.passing());
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}
