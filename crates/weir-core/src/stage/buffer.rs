//! The `buffer` stage: a bounded queue between two tasks.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::StageContext;
use crate::chunk::{ChunkStream, Chunks, ChunksExt};
use crate::envelope::Envelope;

/// Output of [`Pipeline::buffer`](crate::Pipeline::buffer): owns the task
/// that pulls from upstream; dropping it aborts that task.
struct Buffered<T> {
    items: mpsc::Receiver<Envelope<T>>,
    task: JoinSet<()>,
}

impl<T> Chunks for Buffered<T> {
    type Item = Envelope<T>;

    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<Envelope<T>>,
    ) -> Poll<bool> {
        let this = self.get_mut();
        let polled = this.items.poll_recv_many(cx, out, want.max(1));
        if let Poll::Ready(0) = polled {
            // Upstream ended: wait until its task is reaped, and re-raise
            // its panic so that the run reports it (the channel closes
            // before the panic is recorded).
            loop {
                match this.task.poll_join_next(cx) {
                    Poll::Ready(Some(Err(error))) if error.is_panic() => {
                        std::panic::resume_unwind(error.into_panic())
                    }
                    Poll::Ready(Some(_)) => continue,
                    Poll::Ready(None) => break,
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        polled.map(|received| received > 0)
    }
}

pub(crate) fn build<T: Send + 'static>(
    input: ChunkStream<T>,
    ctx: StageContext,
    capacity: usize,
) -> ChunkStream<T> {
    let (tx, items) = mpsc::channel(capacity);
    // Empty means nothing has arrived yet; what it holds is its in-flight.
    ctx.metrics().waits_for_arrivals();
    let capacity = capacity as u64;
    ctx.metrics().gauge("queue_capacity", move || capacity);
    let mut task = JoinSet::new();
    task.spawn(
        ctx.track(
            async move {
                feed(input, tx).await;
            }
            .instrument(ctx.span()),
        ),
    );
    Box::pin(Buffered { items, task })
}

/// Sends `input`'s items into `queue` until the input ends (it returns how
/// many it sent) or the queue is closed (`None`). It pulls what the queue
/// has room for, and one item to wait with when it is full: the items
/// pulled and not queued are never more than one.
pub(crate) async fn feed<T>(mut input: ChunkStream<T>, queue: mpsc::Sender<Envelope<T>>) -> Option<u64> {
    let mut chunk = Vec::new();
    let mut sent = 0;
    while input.next_chunk(queue.capacity().max(1), &mut chunk).await {
        for env in chunk.drain(..) {
            queue.send(env).await.ok()?;
            sent += 1;
        }
    }
    Some(sent)
}
