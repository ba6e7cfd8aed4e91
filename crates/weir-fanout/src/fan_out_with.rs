//! The fan-out stage whose workers each own an operation.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use weir_core::chunk::{ChunkStream, FallibleChunks, build_fallible_by_chunks};
use weir_core::{BuildError, EnvelopeStream, FallibleStage, FallibleStream, Operation, StageContext};

use crate::config::FanOut;
use crate::hand::{Cloning, Handing};
use crate::stage::launch_sized;

/// Stage for [`FanOutExt::fan_out_with`](crate::FanOutExt::fan_out_with)
/// (`H` = [`Cloning`]) and
/// [`fan_out_with_lent`](crate::FanOutExt::fan_out_with_lent)
/// (`H` = [`Lending`](crate::Lending)); made by those methods only.
pub struct FanOutWithStage<M, H = Cloning> {
    name: String,
    config: FanOut,
    make: M,
    hand: PhantomData<H>,
}

impl<M, H> FanOutWithStage<M, H> {
    pub(crate) fn new(name: &str, config: FanOut, make: M) -> Self {
        Self { name: name.to_owned(), config, make, hand: PhantomData }
    }
}

impl<M, H> fmt::Debug for FanOutWithStage<M, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutWithStage")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T, M, Op, H> FallibleStage<T> for FanOutWithStage<M, H>
where
    T: Send + 'static,
    H: Handing<T>,
    M: FnMut(usize) -> Op + Send + 'static,
    Op: Operation<H::Input>,
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
        launch_sized::<T, H, Op>(&self.config, ops, None, input, ctx)
    }
}
