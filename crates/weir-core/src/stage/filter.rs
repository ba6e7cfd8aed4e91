//! The `filter` stage: keeps the items a predicate accepts; the others are
//! counted as filtered and acknowledged.

use futures::StreamExt;

use super::{EnvelopeStream, StageContext};

pub(crate) fn build<T, F>(input: EnvelopeStream<T>, ctx: StageContext, mut keep: F) -> EnvelopeStream<T>
where
    T: Send + 'static,
    F: FnMut(&T) -> bool + Send + 'static,
{
    input
        .filter_map(move |env| {
            let out = if keep(env.item()) {
                Some(env)
            } else {
                ctx.filter(env);
                None
            };
            std::future::ready(out)
        })
        .boxed()
}
