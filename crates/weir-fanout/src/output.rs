//! The stage's output, in chunks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;
use weir_core::chunk::Chunks;
use weir_core::{Envelope, Failure, StageContext};

use crate::assemble::Assemble;
use crate::job::Done;

/// The fan-out stage's output. It owns the feeder and worker tasks:
/// dropping it aborts them all.
pub(crate) struct FanOutStream<A: Assemble<T, E>, T, E> {
    results: UnboundedReceiver<Vec<Done<A::Value, T, E>>>,
    assembly: A,
    room: Arc<Semaphore>,
    /// Items emitted whose slots are not yet given back to the feeder.
    emitted: usize,
    tasks: JoinSet<()>,
    aborted_rest: bool,
    ctx: StageContext,
}

impl<A: Assemble<T, E>, T, E> FanOutStream<A, T, E> {
    pub(crate) fn new(
        results: UnboundedReceiver<Vec<Done<A::Value, T, E>>>,
        assembly: A,
        room: Arc<Semaphore>,
        tasks: JoinSet<()>,
        ctx: StageContext,
    ) -> Self {
        Self { results, assembly, room, emitted: 0, tasks, aborted_rest: false, ctx }
    }

    fn give_back_room(&mut self) {
        if self.emitted > 0 {
            self.room.add_permits(std::mem::take(&mut self.emitted));
        }
    }

    /// Once every worker has exited: waits for the stage's tasks to be
    /// reaped and re-raises a panic of any of them (an upstream inline stage
    /// runs on the feeder task), so that the run reports it instead of
    /// ending normally with items missing. A feeder still alive then can
    /// make no progress (no worker takes its items): it is aborted.
    fn poll_tasks_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.aborted_rest {
            self.aborted_rest = true;
            self.tasks.abort_all();
        }
        loop {
            match self.tasks.poll_join_next(cx) {
                Poll::Ready(Some(Err(error))) if error.is_panic() => {
                    std::panic::resume_unwind(error.into_panic())
                }
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<A, T, E> Unpin for FanOutStream<A, T, E> where A: Assemble<T, E> {}

impl<A, T, E> Chunks for FanOutStream<A, T, E>
where
    A: Assemble<T, E>,
    E: std::fmt::Display,
{
    type Item = Result<Envelope<A::Output>, Failure<T, E>>;

    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: usize,
        out: &mut Vec<Self::Item>,
    ) -> Poll<bool> {
        let this = self.get_mut();
        let before = out.len();
        let want = want.max(1);
        loop {
            while out.len() - before < want
                && let Some((meta, result)) = this.assembly.next_ready()
            {
                this.emitted += 1;
                out.push(match result {
                    Ok(value) => Ok(Envelope::from_parts(value, meta)),
                    Err(f) => {
                        let f = *f;
                        let envelope = Envelope::from_parts(f.item, meta);
                        Err(this.ctx.failure_after(envelope, f.cause, f.class, &f.attempt))
                    }
                });
            }
            if out.len() - before >= want {
                return Poll::Ready(true);
            }
            if out.len() == before {
                // The items emitted before this call have been taken
                // downstream: their slots go back to the feeder.
                this.give_back_room();
            }
            match this.results.poll_recv(cx) {
                Poll::Ready(Some(batch)) => this.assembly.receive(batch),
                Poll::Ready(None) if out.len() > before => return Poll::Ready(true),
                Poll::Ready(None) => {
                    return this.poll_tasks_done(cx).map(|()| false);
                }
                Poll::Pending if out.len() > before => return Poll::Ready(true),
                Poll::Pending => {
                    // A worker that died (it cannot panic through an
                    // operation, which is caught) would leave the run waiting
                    // for its items: surface its panic instead.
                    while let Some(joined) = this.tasks.try_join_next() {
                        if let Err(error) = joined
                            && error.is_panic()
                        {
                            std::panic::resume_unwind(error.into_panic());
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
