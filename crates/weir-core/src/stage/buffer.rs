//! The `buffer` stage: a bounded queue between two tasks.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{EnvelopeStream, StageContext};
use crate::envelope::Envelope;

/// Output of [`Pipeline::buffer`](crate::Pipeline::buffer): owns the task
/// that pulls from upstream; dropping it aborts that task.
struct Buffered<T> {
    items: mpsc::Receiver<Envelope<T>>,
    task: JoinSet<()>,
}

impl<T> Stream for Buffered<T> {
    type Item = Envelope<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Envelope<T>>> {
        let this = self.get_mut();
        let polled = this.items.poll_recv(cx);
        if let Poll::Ready(None) = polled {
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
        polled
    }
}

pub(crate) fn build<T: Send + 'static>(
    mut input: EnvelopeStream<T>,
    ctx: StageContext,
    capacity: usize,
) -> EnvelopeStream<T> {
    let (tx, items) = mpsc::channel(capacity);
    let mut task = JoinSet::new();
    let pull = async move {
        while let Some(env) = input.next().await {
            if tx.send(env).await.is_err() {
                break;
            }
        }
    };
    task.spawn(ctx.track(pull.instrument(ctx.span())));
    Buffered { items, task }.boxed()
}
