//! Chunks: how stages hand items to each other.
//!
//! A stage's output is pulled in chunks: the stage downstream asks for up
//! to `want` items and gets every item that is ready now, up to that
//! bound, never waiting to fill a chunk. A hot pipeline moves its items in
//! runs (one call per run instead of one per item at every stage), a cold
//! one item by item, so chunks add no latency. The consumer sets `want` by
//! its room: a bounded queue asks for what fits in it, a fan-out for its
//! free slots, and a consumer whose work waits (a slow sink, an async
//! `then`) asks for one item at a time, so that backpressure bounds stay
//! what they were item by item.
//!
//! Custom stages implement [`Stage::build`] on a
//! stream of envelopes and need none of this; a stage that wants chunks
//! overrides [`Stage::build_chunks`] and works
//! on [`Chunks`], with [`from_stream`] and [`into_stream`] to convert.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::Stream;
use pin_project_lite::pin_project;

use crate::envelope::Envelope;
use crate::failure::Failure;
use crate::stage::{EnvelopeStream, FallibleStage, FallibleStream, Stage, StageContext};

/// The most items one chunk carries between inline stages.
pub const MAX_CHUNK: usize = 256;

/// A source of items pulled in chunks: a stage's output.
///
/// # Examples
///
/// ```
/// use weir_core::chunk::{self, ChunksExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut items = Box::pin(chunk::from_stream(futures::stream::iter(0..5)));
/// let mut out = Vec::new();
/// assert!(items.next_chunk(3, &mut out).await);
/// assert_eq!(out, [0, 1, 2]);
/// out.clear();
/// assert!(items.next_chunk(3, &mut out).await);
/// assert_eq!(out, [3, 4]);
/// out.clear();
/// assert!(!items.next_chunk(3, &mut out).await); // ended
/// # }
/// ```
pub trait Chunks {
    /// What the chunks hold.
    type Item;

    /// Appends to `out` at least one and at most `want` (at least 1) of
    /// the items ready now and returns `Ready(true)`; returns `Ready(false)`,
    /// appending nothing, once the items have ended; returns `Pending`,
    /// appending nothing, when no item is ready (the waker is woken when
    /// one may be). Never waits for a chunk to fill.
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<Self::Item>,
    ) -> Poll<bool>;
}

impl<C: Chunks + ?Sized> Chunks for Pin<Box<C>> {
    type Item = C::Item;

    #[inline]
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<C::Item>,
    ) -> Poll<bool> {
        self.get_mut().as_mut().poll_chunk(cx, want, out)
    }
}

/// A stage's output of envelopes, in chunks.
pub type ChunkStream<T> = Pin<Box<dyn Chunks<Item = Envelope<T>> + Send + 'static>>;

/// A fallible stage's output in chunks: successes, and failures that keep
/// their item.
pub type FallibleChunks<T, I, E> =
    Pin<Box<dyn Chunks<Item = Result<Envelope<T>, Failure<I, E>>> + Send + 'static>>;

/// Awaiting chunks.
pub trait ChunksExt: Chunks + Unpin {
    /// Waits for the next chunk of at most `want` items, appended to
    /// `out`; `false` once the items have ended.
    fn next_chunk<'a>(
        &'a mut self,
        want: usize,
        out: &'a mut Vec<Self::Item>,
    ) -> impl Future<Output = bool> + 'a
    where
        Self: Sized,
    {
        poll_fn(move |cx| Pin::new(&mut *self).poll_chunk(cx, want, out))
    }

    /// The chunk ready now, without waiting and without registering for a
    /// wake-up: `Some(true)` when items were appended, `Some(false)` when
    /// the items have ended, `None` when nothing is ready.
    fn ready_chunk(&mut self, want: usize, out: &mut Vec<Self::Item>) -> Option<bool>
    where
        Self: Sized,
    {
        match Pin::new(self).poll_chunk(&mut Context::from_waker(Waker::noop()), want, out) {
            Poll::Ready(more) => Some(more),
            Poll::Pending => None,
        }
    }
}

impl<C: Chunks + Unpin> ChunksExt for C {}

pin_project! {
    /// Chunks of a stream's items: see [`from_stream`].
    #[must_use = "chunks do nothing unless polled"]
    pub struct FromStream<St> {
        #[pin]
        stream: St,
        ended: bool,
    }
}

/// Pulls `stream`'s items in chunks: each chunk holds the items the stream
/// has ready, up to the number asked for.
///
/// # Examples
///
/// See [`Chunks`].
pub fn from_stream<St: Stream>(stream: St) -> FromStream<St> {
    FromStream { stream, ended: false }
}

impl<St: Stream> Chunks for FromStream<St> {
    type Item = St::Item;

    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<St::Item>,
    ) -> Poll<bool> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(false);
        }
        let mut got = 0;
        while got < want.max(1) {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    out.push(item);
                    got += 1;
                }
                Poll::Ready(None) => {
                    *this.ended = true;
                    break;
                }
                Poll::Pending if got == 0 => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        Poll::Ready(got > 0)
    }
}

pin_project! {
    /// A stream of chunks' items: see [`into_stream`].
    #[must_use = "streams do nothing unless polled"]
    pub struct IntoStream<C: Chunks> {
        #[pin]
        chunks: C,
        next: Vec<C::Item>,
    }
}

/// The items of `chunks`, one by one: each is pulled when it is asked for,
/// so the stream holds no item ahead (a stage that reads its input item by
/// item keeps the backpressure bounds it had).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use weir_core::chunk;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let items = chunk::into_stream(chunk::from_stream(futures::stream::iter(0..3)));
/// assert_eq!(items.collect::<Vec<_>>().await, [0, 1, 2]);
/// # }
/// ```
pub fn into_stream<C: Chunks>(chunks: C) -> IntoStream<C> {
    IntoStream { chunks, next: Vec::with_capacity(1) }
}

impl<C: Chunks> Stream for IntoStream<C> {
    type Item = C::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<C::Item>> {
        let this = self.project();
        match this.chunks.poll_chunk(cx, 1, this.next) {
            Poll::Ready(true) => Poll::Ready(this.next.pop()),
            Poll::Ready(false) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Implements [`Stage::build`] for a stage that
/// overrides [`Stage::build_chunks`]: runs the
/// chunked form on a stream, item by item.
///
/// # Examples
///
/// See [`Stage::build_chunks`].
pub fn build_by_chunks<S, In>(
    stage: S,
    input: EnvelopeStream<In>,
    ctx: StageContext,
) -> EnvelopeStream<S::Output>
where
    S: Stage<In>,
    In: Send + 'static,
{
    Box::pin(into_stream(stage.build_chunks(Box::pin(from_stream(input)), ctx)))
}

/// Implements [`FallibleStage::build`] for a
/// stage that overrides
/// [`FallibleStage::build_chunks`], as
/// [`build_by_chunks`] does for a [`Stage`].
///
/// # Examples
///
/// ```
/// use weir_core::chunk::{self, ChunkStream, FallibleChunks};
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
/// /// Fails odd items, working through chunks.
/// struct Even;
///
/// impl FallibleStage<u32> for Even {
///     type Output = u32;
///     type Error = Odd;
///     fn name(&self) -> &str { "even" }
///     fn build(self, input: EnvelopeStream<u32>, ctx: StageContext) -> FallibleStream<u32, u32, Odd> {
///         chunk::build_fallible_by_chunks(self, input, ctx)
///     }
///     fn build_chunks(self, input: ChunkStream<u32>, ctx: StageContext) -> FallibleChunks<u32, u32, Odd> {
///         // Any chunked stage; here the item-by-item stream, for brevity.
///         let items = futures::StreamExt::map(chunk::into_stream(input), move |env: Envelope<u32>| {
///             if env.item() % 2 == 0 { Ok(env) } else { Err(ctx.failure(env, Cause::Error(Odd), ErrorClass::Permanent, 1)) }
///         });
///         Box::pin(chunk::from_stream(items))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..6u32).try_stage(Even).discard_failures().sink(sink::drain()).await?;
/// assert_eq!((report.delivered(), report.discarded()), (3, 3));
/// # Ok(())
/// # }
/// ```
pub fn build_fallible_by_chunks<S, In>(
    stage: S,
    input: EnvelopeStream<In>,
    ctx: StageContext,
) -> FallibleStream<S::Output, In, S::Error>
where
    S: FallibleStage<In>,
    In: Send + 'static,
{
    Box::pin(into_stream(stage.build_chunks(Box::pin(from_stream(input)), ctx)))
}
