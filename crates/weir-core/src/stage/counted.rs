//! Counting adapters: every stage's output is counted here, so that stages
//! themselves only count what they drop or fail. What a stage received is
//! what the stage before it emitted: the same chunks, counted once.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::chunk::Chunks;

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
    /// Counts the items a stage emits, inside the stage's tracing span.
    #[must_use = "chunks do nothing unless polled"]
    pub(crate) struct Counted<C> {
        #[pin]
        chunks: C,
        // This stage's own shard of its `emitted` counter: a plain store
        // per chunk, no atomic add.
        emitted: Shard,
        // The stage's span, entered while the stage runs (a disabled span
        // costs a branch).
        span: tracing::Span,
    }
}

impl<C> Counted<C> {
    pub(crate) fn new(chunks: C, stage: StageRef) -> Self {
        let span = tracing::debug_span!("weir.stage", stage = stage.name());
        Self { chunks, emitted: stage.metrics().emitted.shard(), span }
    }
}

impl<C> Chunks for Counted<C>
where
    C: Chunks,
    C::Item: Passing,
{
    type Item = C::Item;

    #[inline]
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<C::Item>,
    ) -> Poll<bool> {
        let this = self.project();
        let _entered = this.span.enter();
        let before = out.len();
        // A stage that panics halfway through a chunk has handed on the
        // items before the panic: they are counted where they are.
        let polled = catch_unwind(AssertUnwindSafe(|| this.chunks.poll_chunk(cx, want, out)));
        if out.len() > before {
            this.emitted.add(out[before..].iter().map(Passing::passing).sum());
        }
        polled.unwrap_or_else(|payload| resume_unwind(payload))
    }
}
