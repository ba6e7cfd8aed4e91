//! Counting adapters: every stage's output is counted here, so that stages
//! themselves only count what they drop or fail. What a stage received is
//! what the stage before it emitted: the same chunks, counted once.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use crate::chunk::Chunks;

use crate::envelope::Envelope;
use crate::failure::Failure;
use crate::metrics::{Shard, StageKind, StageRef};
use crate::timing::{Clocked, Timing};

/// Something a counted stream yields: how many source items pass, and
/// the latency mark of a watched run (see `timing`).
pub(crate) trait Passing {
    fn passing(&self) -> u64;

    fn born(&self) -> Option<Instant>;

    fn mark_born(&mut self, at: Instant);
}

impl<T> Passing for Envelope<T> {
    fn passing(&self) -> u64 {
        self.count()
    }

    fn born(&self) -> Option<Instant> {
        self.meta().born()
    }

    fn mark_born(&mut self, at: Instant) {
        self.meta_mut().mark_born(at);
    }
}

impl<T, I, E> Passing for Result<Envelope<T>, Failure<I, E>> {
    fn passing(&self) -> u64 {
        self.as_ref().map_or(0, Envelope::count)
    }

    fn born(&self) -> Option<Instant> {
        self.as_ref().ok().and_then(Passing::born)
    }

    fn mark_born(&mut self, at: Instant) {
        if let Ok(envelope) = self {
            envelope.mark_born(at);
        }
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
        stage: StageRef,
        // While watched: what the stage is doing since when.
        clocked: Clocked,
    }
}

impl<C> Counted<C> {
    pub(crate) fn new(chunks: C, stage: StageRef) -> Self {
        let span = tracing::debug_span!("weir.stage", stage = stage.name());
        Self { chunks, emitted: stage.metrics().emitted.shard(), span, stage, clocked: Clocked::default() }
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
        let timing = &this.stage.metrics().timing;
        let watched = timing.is_watched().then(|| this.clocked.enter());
        // A stage that panics halfway through a chunk has handed on the
        // items before the panic: they are counted where they are.
        let polled = catch_unwind(AssertUnwindSafe(|| this.chunks.poll_chunk(cx, want, out)));
        if out.len() > before {
            this.emitted.add(out[before..].iter().map(Passing::passing).sum());
        }
        if let Some(entered) = watched {
            let ready = match &polled {
                Ok(Poll::Ready(more)) => Some(*more),
                Ok(Poll::Pending) => None,
                Err(_) => Some(false),
            };
            let source = this.stage.kind() == StageKind::Source;
            let mark = this.clocked.leave(timing, entered, ready, source);
            record_latencies(timing, &mut out[before..], mark);
        }
        polled.unwrap_or_else(|payload| resume_unwind(payload))
    }
}

/// Records the latencies of the marked items a watched stage hands on;
/// `mark` (the source, about once a millisecond) marks the first.
fn record_latencies<P: Passing>(timing: &Timing, handed: &mut [P], mark: bool) {
    if mark && let Some(first) = handed.first_mut() {
        first.mark_born(Instant::now());
        return;
    }
    if !crate::timing::marks_alive() {
        return;
    }
    let mut now = None;
    for born in handed.iter().filter_map(Passing::born) {
        timing.record_latency(born, *now.get_or_insert_with(Instant::now));
    }
}
