//! The `try_then` stage: an asynchronous, fallible transformation, one item
//! at a time, in order. An `Err` or a panic becomes a
//! [`Failure`](crate::Failure) that keeps the original item.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures::FutureExt;

use super::StageContext;
use super::sequential::Sequential;
use crate::chunk::{ChunkStream, FallibleChunks};
use crate::envelope::Envelope;

pub(crate) fn build<T, U, E, F, Fut>(
    input: ChunkStream<T>,
    ctx: StageContext,
    mut f: F,
) -> FallibleChunks<U, T, E>
where
    T: Clone + Send + 'static,
    U: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    Box::pin(Sequential::new(input, move |env: Envelope<T>| {
        // A panic while making the future counts like one inside it.
        let fut = catch_unwind(AssertUnwindSafe(|| f(env.item().clone())))
            .map(|fut| AssertUnwindSafe(fut).catch_unwind());
        let ctx = ctx.clone();
        async move {
            let outcome = match fut {
                Ok(fut) => fut.await,
                Err(payload) => Err(payload),
            };
            ctx.conclude(env, outcome)
        }
    }))
}
