//! The machinery of the synchronous inline stages (`map`, `filter`,
//! `inspect`, `try_map`, …): each pulls a chunk from upstream and works
//! through it in one loop.

use std::pin::Pin;
use std::task::{Context, Poll};

use crate::chunk::Chunks;

/// A synchronous stage over chunks: `step` takes every item of a chunk
/// pulled from upstream and appends its outputs (as many as it likes, up
/// to one per input) to the chunk going downstream.
pub(crate) struct Inline<C: Chunks, Out, F> {
    input: C,
    chunk: Vec<C::Item>,
    step: F,
    _out: std::marker::PhantomData<fn() -> Out>,
}

impl<C: Chunks, Out, F> Inline<C, Out, F> {
    pub(crate) fn new(input: C, step: F) -> Self {
        Self { input, chunk: Vec::new(), step, _out: std::marker::PhantomData }
    }
}

impl<C: Chunks + Unpin, Out, F> Unpin for Inline<C, Out, F> {}

impl<C, Out, F> Chunks for Inline<C, Out, F>
where
    C: Chunks + Unpin,
    F: FnMut(std::vec::Drain<'_, C::Item>, &mut Vec<Out>),
{
    type Item = Out;

    #[inline]
    fn poll_chunk(self: Pin<&mut Self>, cx: &mut Context<'_>, want: usize, out: &mut Vec<Out>) -> Poll<bool> {
        let this = self.get_mut();
        let before = out.len();
        // A chunk whose items are all dropped (filtered) yields nothing:
        // pull the next one.
        loop {
            match Pin::new(&mut this.input).poll_chunk(cx, want, &mut this.chunk) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(false),
                Poll::Pending => return Poll::Pending,
            }
            (this.step)(this.chunk.drain(..), out);
            if out.len() > before {
                return Poll::Ready(true);
            }
        }
    }
}
