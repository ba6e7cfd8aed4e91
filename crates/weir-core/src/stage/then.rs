//! The `then` stage: an asynchronous, infallible transformation, one item
//! at a time, in order.

use std::future::Future;

use futures::StreamExt;

use super::{EnvelopeStream, StageContext};

pub(crate) fn build<T, U, F, Fut>(input: EnvelopeStream<T>, _ctx: StageContext, mut f: F) -> EnvelopeStream<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = U> + Send + 'static,
{
    input
        .then(move |env| {
            let (item, meta) = env.into_parts();
            let fut = f(item);
            async move { crate::Envelope::from_parts(fut.await, meta) }
        })
        .boxed()
}
