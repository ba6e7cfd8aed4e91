//! Starts a fan-out stage's tasks when the pipeline runs.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;
use weir_core::{EnvelopeStream, FallibleStream, Operation, StageContext};

use crate::assemble::Assemble;
use crate::feeder::{BatchHint, Router, feed};
use crate::job::Job;
use crate::output::FanOutStream;
use crate::worker::Worker;

/// One worker's operation, queue and lane (broadcast consumer).
pub(crate) type WorkerSlot<T, Op> = (Arc<Op>, async_channel::Receiver<Vec<Job<T>>>, usize);

/// The tasks of a fan-out stage and how they are connected.
pub(crate) struct Layout<T, Op> {
    /// Each worker: its operation, its queue, its lane (broadcast consumer).
    pub(crate) workers: Vec<WorkerSlot<T, Op>>,
    pub(crate) router: Router<T>,
    pub(crate) capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) hold_keys: bool,
}

/// Spawns the feeder and the workers, owned by the returned stream.
pub(crate) fn launch<T, Op, A>(
    layout: Layout<T, Op>,
    input: EnvelopeStream<T>,
    ctx: StageContext,
    assembly: A,
) -> FallibleStream<A::Output, T, Op::Error>
where
    T: Clone + Send + 'static,
    Op: Operation<T>,
    Op::Error: std::fmt::Display,
    A: Assemble<T, Op::Error, Value = Op::Output>,
    A::Output: Send + 'static,
{
    let room = Arc::new(Semaphore::new(layout.capacity));
    let hint = Arc::new(BatchHint::new(layout.max_batch));
    let (output, results) = mpsc::unbounded_channel();
    let span = ctx.span();
    let mut tasks = JoinSet::new();
    tasks.spawn(feed(input, layout.router, room.clone(), hint.clone()).instrument(span.clone()));
    for (op, queue, lane) in layout.workers {
        let worker = Worker {
            op,
            queue,
            output: output.clone(),
            lane,
            hold_keys: layout.hold_keys,
            hint: hint.clone(),
            ctx: ctx.clone(),
        };
        tasks.spawn(worker.run().instrument(span.clone()));
    }
    Box::pin(FanOutStream::new(results, assembly, room, tasks, ctx))
}
