//! The fan-out stage whose workers each own an operation.

use std::fmt;
use std::sync::Arc;

use weir_core::chunk::{ChunkStream, FallibleChunks, build_fallible_by_chunks};
use weir_core::{BuildError, EnvelopeStream, FallibleStage, FallibleStream, Operation, StageContext};

use crate::config::FanOut;
use crate::stage::launch_sized;

/// Stage for [`FanOutExt::fan_out_with`](crate::FanOutExt::fan_out_with).
pub struct FanOutWithStage<M> {
    name: String,
    config: FanOut,
    make: M,
}

impl<M> FanOutWithStage<M> {
    pub(crate) fn new(name: &str, config: FanOut, make: M) -> Self {
        Self { name: name.to_owned(), config, make }
    }
}

impl<M> fmt::Debug for FanOutWithStage<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutWithStage")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T, M, Op> FallibleStage<T> for FanOutWithStage<M>
where
    T: Clone + Send + 'static,
    M: FnMut(usize) -> Op + Send + 'static,
    Op: Operation<T>,
    Op::Error: weir_core::StageError,
{
    type Output = Op::Output;
    type Error = Op::Error;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.config.validate(&self.name)
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> FallibleStream<Op::Output, T, Op::Error> {
        build_fallible_by_chunks(self, input, ctx)
    }

    fn build_chunks(
        mut self,
        input: ChunkStream<T>,
        ctx: StageContext,
    ) -> FallibleChunks<Op::Output, T, Op::Error> {
        // Each worker holds the only handle on its operation, so the
        // operation is dropped on the worker's task when the worker ends.
        let ops = (0..self.config.worker_count()).map(|worker| Arc::new((self.make)(worker))).collect();
        launch_sized(&self.config, ops, None, input, ctx)
    }
}
