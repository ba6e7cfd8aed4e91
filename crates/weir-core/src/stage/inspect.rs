//! The `inspect` stage: looks at each item and passes it on unchanged.

use futures::StreamExt;

use super::{EnvelopeStream, StageContext};

pub(crate) fn build<T, F>(input: EnvelopeStream<T>, _ctx: StageContext, mut f: F) -> EnvelopeStream<T>
where
    T: Send + 'static,
    F: FnMut(&T) + Send + 'static,
{
    input.inspect(move |env| f(env.item())).boxed()
}
