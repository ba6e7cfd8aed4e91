//! The `filter` stage: keeps the items a predicate accepts; the others are
//! counted as filtered and acknowledged.

use super::StageContext;
use super::inline::Inline;
use crate::chunk::ChunkStream;
use crate::envelope::Envelope;

pub(crate) fn build<T, F>(input: ChunkStream<T>, ctx: StageContext, mut keep: F) -> ChunkStream<T>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    Box::pin(Inline::new(input, move |chunk: std::vec::Drain<'_, Envelope<T>>, out: &mut Vec<_>| {
        let mut filtered = 0;
        for env in chunk {
            if keep(env.item()) {
                out.push(env);
            } else {
                filtered += env.count();
                env.ack();
            }
        }
        if filtered > 0 {
            ctx.metrics().record_filtered(filtered);
        }
    }))
}
