//! The `then` stage: an asynchronous, infallible transformation, one item
//! at a time, in order.

use std::future::Future;

use super::StageContext;
use super::sequential::Sequential;
use crate::chunk::ChunkStream;
use crate::envelope::Envelope;

pub(crate) fn build<T, U, F, Fut>(input: ChunkStream<T>, _ctx: StageContext, mut f: F) -> ChunkStream<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = U> + Send + 'static,
{
    Box::pin(Sequential::new(input, move |env: Envelope<T>| {
        let (item, meta) = env.into_parts();
        let fut = f(item);
        async move { Envelope::from_parts(fut.await, meta) }
    }))
}
