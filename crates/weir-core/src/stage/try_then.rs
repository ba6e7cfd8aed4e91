//! The `try_then` stage: an asynchronous, fallible transformation, one item
//! at a time, in order. An `Err` or a panic becomes a
//! [`Failure`](crate::Failure) that keeps the original item.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::{FutureExt, StreamExt};

use super::{EnvelopeStream, FallibleStream, StageContext};
use crate::class::ErrorClass;
use crate::failure::Cause;

pub(crate) fn build<T, U, E, F, Fut>(
    input: EnvelopeStream<T>,
    ctx: StageContext,
    mut f: F,
) -> FallibleStream<U, T, E>
where
    T: Clone + Send + 'static,
    U: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    input
        .then(move |env| {
            let fut = AssertUnwindSafe(f(env.item().clone())).catch_unwind();
            let ctx = ctx.clone();
            async move {
                let (cause, class) = match fut.await {
                    Ok(Ok(out)) => return Ok(env.map(|_| out)),
                    Ok(Err(e)) => (Cause::Error(e), ErrorClass::Permanent),
                    Err(payload) => (Cause::from_panic(&*payload), ErrorClass::Poison),
                };
                Err(ctx.failure(env, cause, class, 1))
            }
        })
        .boxed()
}
