//! The `map` stage: a synchronous, infallible transformation.

use super::StageContext;
use super::inline::Inline;
use crate::chunk::ChunkStream;

pub(crate) fn build<T, U, F>(input: ChunkStream<T>, _ctx: StageContext, mut f: F) -> ChunkStream<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnMut(T) -> U + Send + 'static,
{
    Box::pin(Inline::new(input, move |chunk: std::vec::Drain<'_, _>, out: &mut Vec<_>| {
        out.extend(chunk.map(|env: crate::Envelope<T>| env.map(&mut f)));
    }))
}
