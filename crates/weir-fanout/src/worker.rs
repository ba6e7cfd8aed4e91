//! A worker: runs the operation on the items it takes from its queue,
//! parks items that wait for a retry, and sends results to the output.
//!
//! Before an operation waits, the worker hands what it finished
//! downstream and gives the items it has not started back to the queue:
//! it holds no item while it waits (see [`dispatch`](crate::dispatch)).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use weir_core::operation::give_up;
use weir_core::{Cause, ErrorClass, Operation, StageContext, Verdict};

use crate::dispatch::Dispatch;
use crate::feeder::BatchHint;
use crate::hand::sealed::HandWorker;
use crate::job::{Done, Failed, Job};
use crate::park::ParkSender;

/// Everything a worker owns.
pub(crate) struct Worker<Op, T, U, E, H> {
    pub(crate) op: Arc<Op>,
    /// How items are given to the operation (a clone, or lent).
    pub(crate) hand: H,
    pub(crate) queue: Arc<Dispatch<T>>,
    pub(crate) park: ParkSender<T>,
    pub(crate) output: UnboundedSender<Vec<Done<U, T, E>>>,
    pub(crate) lane: usize,
    pub(crate) hint: Arc<BatchHint>,
    pub(crate) ctx: StageContext,
}

/// The items a worker took and what became of them so far.
struct Hands<T, U, E> {
    /// Taken, not started.
    rest: std::vec::IntoIter<Job<T>>,
    /// Finished, not yet sent downstream.
    out: Vec<Done<U, T, E>>,
    /// Finished since the queue was last told, and their keys.
    finished: usize,
    keys: Vec<u64>,
}

impl<Op, T, U, E, H> Worker<Op, T, U, E, H>
where
    H: HandWorker<T>,
    Op: Operation<H::Input, Output = U, Error = E>,
    T: Send + 'static,
    U: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    pub(crate) async fn run(mut self) {
        let mut hands =
            Hands { rest: Vec::new().into_iter(), out: Vec::new(), finished: 0, keys: Vec::new() };
        // What the last batch finished is told to the queue with the next take.
        let mut holding = false;
        // Busy from taking a batch until asking for the next.
        let stage = self.ctx.stage_ref().clone();
        let mut clock = stage.metrics().work_clock();
        while let Some(batch) = self
            .queue
            .take(self.hint.get(), holding, std::mem::take(&mut hands.finished), &mut hands.keys)
            .await
        {
            holding = true;
            let _busy = clock.job();
            hands.out.reserve(batch.len());
            hands.rest = batch.into_iter();
            // When the next attempt starts: refreshed after every attempt that
            // waited, so that each item's time limits count from its own first
            // attempt, not from the start of its hand-off.
            let mut started = Instant::now();
            let mut waited = false;
            while let Some(job) = hands.rest.next() {
                let began = started;
                // Before the worker waits (for a slow operation, or for a
                // lent item still out), it hands what is finished
                // downstream, gives the rest back for idle workers, and
                // spreads the next items one by one; the next attempt's
                // time counts from when the wait ended.
                macro_rules! waiting {
                    ($future:expr) => {{
                        waited = true;
                        self.hint.slow();
                        self.settle(&mut hands);
                        let output = $future.await;
                        started = Instant::now();
                        output
                    }};
                }
                // One attempt, written out here rather than in an async fn
                // of its own: an operation that completes at once then
                // costs no future for the attempt (its state, the
                // operation's future included, would be moved per item).
                macro_rules! attempt {
                    ($input:expr) => {{
                        let (op, input) = (&*self.op, $input);
                        match catch_unwind(AssertUnwindSafe(|| op.apply(input))) {
                            Ok(fut) => {
                                let mut fut = pin!(AssertUnwindSafe(fut).catch_unwind());
                                match fut.as_mut().now_or_never() {
                                    Some(outcome) => outcome,
                                    None => waiting!(fut),
                                }
                            }
                            Err(payload) => Err(payload),
                        }
                    }};
                }
                // A cloning hand leaves the job whole; a lending one takes
                // the item out and has it back when the attempt is over
                // (and its future dropped), unless the operation kept it.
                let (job, outcome) = match self.hand.copy(&job.item) {
                    Some(input) => {
                        let outcome = attempt!(input);
                        (job, outcome)
                    }
                    None => {
                        let (job, item) = job.split();
                        let outcome = attempt!(self.hand.lend(item));
                        if !self.hand.is_back() {
                            if matches!(outcome, Ok(Ok(_))) {
                                // A success whose output holds the item
                                // (or that kept it): no need to wait.
                                self.hand.let_go();
                                self.conclude_ok(job, outcome, &mut hands);
                                continue;
                            }
                            waiting!(self.hand.wait());
                        }
                        (self.hand.back(job), outcome)
                    }
                };
                self.conclude(job, began, outcome, &mut hands);
            }
            if !waited {
                self.hint.fast();
            }
            self.flush(&mut hands.out);
        }
    }

    /// Sends what is finished downstream, then tells the queue (so that the
    /// last item's result is out before the workers may exit), and gives
    /// back the items not started.
    fn settle(&self, hands: &mut Hands<T, U, E>) {
        self.flush(&mut hands.out);
        self.queue.finish(std::mem::take(&mut hands.finished), &mut hands.keys);
        if hands.rest.len() > 0 {
            self.queue.give_back(std::mem::take(&mut hands.rest));
        }
    }

    fn flush(&self, out: &mut Vec<Done<U, T, E>>) {
        if !out.is_empty() {
            // The output is gone only when the stage is being dropped.
            let _ = self.output.send(std::mem::take(out));
        }
    }

    /// Concludes one attempt: its result goes to the worker's hands, or
    /// the item is parked for another attempt.
    fn conclude(
        &self,
        mut job: Job<T>,
        began: Instant,
        outcome: std::thread::Result<Result<U, E>>,
        hands: &mut Hands<T, U, E>,
    ) {
        let op = &*self.op;
        let result = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let mut attempt = job.attempt(began);
                let verdict = catch_unwind(AssertUnwindSafe(|| op.on_failure(&mut attempt, &error)))
                    .unwrap_or(Verdict::Fail(ErrorClass::Poison));
                if let Verdict::Retry(delay) = verdict {
                    let metrics = self.ctx.metrics();
                    metrics.record_retry(job.meta.count(), attempt.number() == 1);
                    tracing::info!(
                        stage = self.ctx.name(),
                        attempt = attempt.number(),
                        ?delay,
                        error = %error,
                        "retrying"
                    );
                    attempt.next();
                    job.attempt = Some(Box::new(attempt));
                    // Its key (keyed mode) stays busy while it is parked.
                    // The parking task is gone only when the stage is being
                    // dropped.
                    let _ = self.park.send((self.lane, job, delay));
                    return;
                }
                let (cause, class) = give_up(verdict, error);
                Err(Box::new(Failed { item: job.item, cause, class, attempt }))
            }
            Err(payload) => {
                let attempt = job.attempt(began);
                let cause = Cause::from_panic(&*payload);
                Err(Box::new(Failed { item: job.item, cause, class: ErrorClass::Poison, attempt }))
            }
        };
        let attempts = match &result {
            Ok(_) => job.attempt.as_ref().map_or(1, |a| a.number()),
            Err(failed) => failed.attempt.number(),
        };
        if attempts > 1 {
            self.ctx.metrics().record_attempts(attempts, job.meta.count());
        }
        hands.finished += 1;
        if self.queue.is_keyed() {
            hands.keys.push(job.key);
        }
        hands.out.push(Done { seq: job.seq, lane: self.lane, meta: job.meta, result });
    }

    /// Concludes a successful attempt whose lent item is still out (the
    /// output holds it): a success needs no item.
    #[cold]
    fn conclude_ok(
        &self,
        job: Job<()>,
        outcome: std::thread::Result<Result<U, E>>,
        hands: &mut Hands<T, U, E>,
    ) {
        let Ok(Ok(value)) = outcome else { unreachable!("called for successes only") };
        let attempts = job.attempt.as_ref().map_or(1, |a| a.number());
        self.record(job.seq, job.key, job.meta, attempts, Ok(value), hands);
    }

    /// Hands a finished item's result to the worker's hands (inlined: a
    /// call here costs the cloning path 20 instructions per item).
    #[inline(always)]
    fn record(
        &self,
        seq: u64,
        key: u64,
        meta: weir_core::Meta,
        attempts: u32,
        result: Result<U, Box<Failed<T, E>>>,
        hands: &mut Hands<T, U, E>,
    ) {
        if attempts > 1 {
            self.ctx.metrics().record_attempts(attempts, meta.count());
        }
        hands.finished += 1;
        if self.queue.is_keyed() {
            hands.keys.push(key);
        }
        hands.out.push(Done { seq, lane: self.lane, meta, result });
    }
}
