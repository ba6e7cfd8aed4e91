//! The `map` stage: a synchronous, infallible transformation.

use futures::StreamExt;

use super::{EnvelopeStream, StageContext};

pub(crate) fn build<T, U, F>(input: EnvelopeStream<T>, _ctx: StageContext, mut f: F) -> EnvelopeStream<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnMut(T) -> U + Send + 'static,
{
    input.map(move |env| env.map(&mut f)).boxed()
}
