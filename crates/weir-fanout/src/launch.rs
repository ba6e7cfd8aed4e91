//! Starts a fan-out stage's tasks when the pipeline runs.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;
use weir_core::chunk::{ChunkStream, FallibleChunks};
use weir_core::{Operation, StageContext};

use crate::assemble::Assemble;
use crate::dispatch::Dispatch;
use crate::feeder::{BatchHint, Router, feed};
use crate::hand::Handing;
use crate::output::FanOutStream;
use crate::park::park;
use crate::worker::Worker;

/// One worker's operation and lane: the index of its queue (a broadcast
/// consumer's), else 0.
pub(crate) type WorkerSlot<Op> = (Arc<Op>, usize);

/// The tasks of a fan-out stage and how they are connected.
pub(crate) struct Layout<T, Op> {
    pub(crate) workers: Vec<WorkerSlot<Op>>,
    /// The queues, by lane.
    pub(crate) queues: Vec<Arc<Dispatch<T>>>,
    pub(crate) router: Router<T>,
    pub(crate) capacity: usize,
    pub(crate) max_batch: usize,
}

/// Spawns the feeder, the workers (giving items to their operations as
/// `H` says) and the parking task, owned by the returned stream.
pub(crate) fn launch<T, H, Op, A>(
    layout: Layout<T, Op>,
    input: ChunkStream<T>,
    ctx: StageContext,
    assembly: A,
) -> FallibleChunks<A::Output, T, Op::Error>
where
    T: Send + 'static,
    H: Handing<T>,
    Op: Operation<H::Input>,
    Op::Error: std::fmt::Display,
    A: Assemble<T, Op::Error, Value = Op::Output>,
    A::Output: Send + 'static,
{
    // The operations' own readings (a breaker's state) into the stage's
    // reports.
    for (op, _) in &layout.workers {
        op.observe(ctx.metrics());
    }
    // Each worker times its own jobs; the queue holds what the stage holds.
    let metrics = ctx.metrics();
    metrics.busy_from_workers();
    let (workers, capacity) = (layout.workers.len() as u64, layout.capacity as u64);
    metrics.gauge("workers", move || workers);
    metrics.gauge("queue_capacity", move || capacity);
    let parked_now = Arc::new(AtomicU64::new(0));
    let reading = parked_now.clone();
    metrics.gauge("retries_parked", move || reading.load(Relaxed));
    let room = Arc::new(Semaphore::new(layout.capacity));
    let hint = Arc::new(BatchHint::new(layout.max_batch));
    let (output, results) = mpsc::unbounded_channel();
    let span = ctx.span();
    let (parking, parked) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    tasks.spawn(ctx.track(feed(input, layout.router, room.clone(), hint.clone()).instrument(span.clone())));
    tasks.spawn(ctx.track(park(parked, layout.queues.clone(), parked_now).instrument(span.clone())));
    for (op, lane) in layout.workers {
        let worker = Worker {
            op,
            hand: H::worker(),
            queue: layout.queues[lane].clone(),
            park: parking.clone(),
            output: output.clone(),
            lane,
            hint: hint.clone(),
            ctx: ctx.clone(),
        };
        tasks.spawn(ctx.track(worker.run().instrument(span.clone())));
    }
    Box::pin(FanOutStream::new(results, assembly, room, tasks, ctx))
}
