//! The `try_map` and `try_map_ref` stages: a synchronous, fallible
//! transformation. An `Err` or a panic becomes a
//! [`Failure`](crate::Failure) that keeps the original item.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::StageContext;
use super::inline::Inline;
use crate::chunk::{ChunkStream, FallibleChunks};
use crate::envelope::Envelope;

/// Builds the stage around `f`, which borrows each item: the item stays in
/// its envelope, kept for its failure without a copy. (`try_map`'s `f`
/// takes its item and so is called with a clone.)
pub(crate) fn build<T, U, E, F>(input: ChunkStream<T>, ctx: StageContext, mut f: F) -> FallibleChunks<U, T, E>
where
    T: Send + 'static,
    U: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: FnMut(&T) -> Result<U, E> + Send + 'static,
{
    Box::pin(Inline::new(input, move |chunk: std::vec::Drain<'_, Envelope<T>>, out: &mut Vec<_>| {
        out.extend(chunk.map(|env| {
            let outcome = catch_unwind(AssertUnwindSafe(|| f(env.item())));
            ctx.conclude(env, outcome)
        }));
    }))
}
