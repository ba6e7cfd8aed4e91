//! A pipeline that ends in a stream for the rest of the program.

use std::fmt;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{Notify, mpsc};

use super::PipelineHandle;
use crate::chunk::ChunkStream;
use crate::envelope::Envelope;
use crate::error::RunError;
use crate::metrics::StageRef;
use crate::report::Report;

/// The output of a pipeline as a [`Stream`]; see
/// [`Pipeline::into_stream`](crate::Pipeline::into_stream).
///
/// The pipeline runs on a task of its own and hands its items over
/// through a bounded queue: when the program stops reading, the pipeline
/// waits (backpressure). An item counts as delivered, and its
/// acknowledgement fires, when the program takes it from the stream.
/// Dropping the stream aborts the pipeline.
pub struct PipelineStream<T> {
    items: mpsc::Receiver<Envelope<T>>,
    taken: Arc<Taken>,
    stage: StageRef,
    handle: PipelineHandle,
    ended: bool,
}

impl<T> PipelineStream<T> {
    pub(crate) fn new(items: mpsc::Receiver<Envelope<T>>, taken: Arc<Taken>, handle: PipelineHandle) -> Self {
        let stage = handle.stages().last().expect("a pipeline has an end stage").clone();
        Self { items, taken, stage, handle, ended: false }
    }

    /// A snapshot of the live per-stage counts.
    pub fn report(&self) -> Report {
        self.handle.report()
    }

    /// Ends the run and returns its report. After the stream has ended,
    /// this is the run's own ending (completed, halted, failed); before,
    /// the run is aborted: the items the program did not take are counted
    /// as abandoned and not acknowledged.
    ///
    /// # Errors
    ///
    /// As for [`Runnable::run`](super::Runnable::run).
    pub async fn finish(self) -> Result<Report, RunError> {
        if self.ended { self.handle.join().await } else { self.handle.abort().await }
    }
}

impl<T> Stream for PipelineStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.items.poll_recv(cx) {
            Poll::Ready(Some(envelope)) => {
                self.stage.metrics().record_delivered(envelope.count());
                let item = envelope.ack();
                self.taken.count.fetch_add(1, Ordering::Release);
                self.taken.notify.notify_one();
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for PipelineStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineStream").field("ended", &self.ended).finish_non_exhaustive()
    }
}

/// How many items the program took, counted once delivered.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    count: AtomicU64,
    notify: Notify,
}

/// The run's end of a [`PipelineStream`]: hands every item over, then
/// waits until the program has taken them all, so that the run ends (and
/// its report is taken) only once every item reached the program and was
/// counted.
pub(crate) async fn hand_over<T: Send + 'static>(
    input: ChunkStream<T>,
    items: mpsc::Sender<Envelope<T>>,
    taken: Arc<Taken>,
) -> bool {
    let Some(sent) = crate::stage::buffer::feed(input, items).await else {
        // The program dropped the stream, which aborts the run.
        return false;
    };
    loop {
        let mut more = pin!(taken.notify.notified());
        more.as_mut().enable();
        if taken.count.load(Ordering::Acquire) == sent {
            return false;
        }
        more.await;
    }
}
