//! The `inspect` stage: looks at each item and passes it on unchanged.

use super::StageContext;
use super::inline::Inline;
use crate::chunk::ChunkStream;
use crate::envelope::Envelope;

pub(crate) fn build<T, F>(input: ChunkStream<T>, _ctx: StageContext, mut f: F) -> ChunkStream<T>
where
    T: Send + 'static,
    F: FnMut(&T) + Send + 'static,
{
    Box::pin(Inline::new(input, move |chunk: std::vec::Drain<'_, Envelope<T>>, out: &mut Vec<_>| {
        out.extend(chunk.inspect(|env| f(env.item())));
    }))
}
