//! The `try_map` stage: a synchronous, fallible transformation. An `Err` or
//! a panic becomes a [`Failure`](crate::Failure) that keeps the original item.

use std::panic::{AssertUnwindSafe, catch_unwind};

use futures::StreamExt;

use super::{EnvelopeStream, FallibleStream, StageContext};

pub(crate) fn build<T, U, E, F>(
    input: EnvelopeStream<T>,
    ctx: StageContext,
    mut f: F,
) -> FallibleStream<U, T, E>
where
    T: Clone + Send + 'static,
    U: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: FnMut(T) -> Result<U, E> + Send + 'static,
{
    input
        .map(move |env| {
            let outcome = catch_unwind(AssertUnwindSafe(|| f(env.item().clone())));
            ctx.conclude(env, outcome)
        })
        .boxed()
}
