//! The replay stage: a dead-letter file's lines become items again, or
//! failures that say why they cannot.

use futures::StreamExt;
use serde::de::DeserializeOwned;
use weir_core::{Cause, EnvelopeStream, ErrorClass, FallibleStage, FallibleStream, History, StageContext};

use super::{REPLAY_STAGE, Replay, ReplayLine};
use crate::error::BadLine;
use crate::record::DeadLetter;

/// Parses each line: a record of the selected stage passes as its item,
/// with its failure history; a record of another stage is filtered; any
/// other line fails, keeping the line.
pub(super) struct Parse<I> {
    replay: Replay<I>,
}

impl<I> Parse<I> {
    pub(super) fn new(replay: Replay<I>) -> Self {
        Self { replay }
    }
}

impl<I> FallibleStage<ReplayLine> for Parse<I>
where
    I: DeserializeOwned + Send + 'static,
{
    type Output = I;
    type Error = BadLine;

    fn name(&self) -> &str {
        REPLAY_STAGE
    }

    fn build(
        self,
        input: EnvelopeStream<ReplayLine>,
        ctx: StageContext,
    ) -> FallibleStream<I, ReplayLine, BadLine> {
        let replay = self.replay;
        input
            .filter_map(move |envelope| {
                let outcome = match replay.parse(envelope.item()) {
                    None => {
                        ctx.filter(envelope);
                        None
                    }
                    Some(Ok(record)) => {
                        let history = History::new(record.attempts(), record.first_failed_at());
                        Some(Ok(envelope.map(|_| DeadLetter::into_item(record)).with_history(history)))
                    }
                    Some(Err(bad)) => {
                        tracing::warn!(error = %bad, "a dead-letter line cannot be replayed");
                        Some(Err(ctx.failure(envelope, Cause::Error(bad), ErrorClass::Permanent, 1)))
                    }
                };
                std::future::ready(outcome)
            })
            .boxed()
    }
}
