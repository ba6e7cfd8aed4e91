//! A worker: runs the operation on the items of its queue, parks items
//! that wait for a retry on a timer, and sends results to the output.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;

use futures::FutureExt;
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;
use weir_core::operation::give_up;
use weir_core::{Cause, ErrorClass, Operation, StageContext, Verdict};

use crate::feeder::BatchHint;
use crate::job::{Done, Failed, Job};

/// The longest an item is parked for a retry.
const MAX_PARK: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// Everything a worker owns.
pub(crate) struct Worker<Op, T, U, E> {
    pub(crate) op: Arc<Op>,
    pub(crate) queue: async_channel::Receiver<Vec<Job<T>>>,
    pub(crate) output: UnboundedSender<Vec<Done<U, T, E>>>,
    pub(crate) lane: usize,
    /// Keyed mode: while one item of a key waits for a retry, later items
    /// of that key wait behind it, so per-key order holds.
    pub(crate) hold_keys: bool,
    pub(crate) hint: Arc<BatchHint>,
    pub(crate) ctx: StageContext,
}

/// What the worker does with an item after an attempt.
enum Next<T> {
    Finished,
    Parked(Job<T>, std::time::Duration),
}

impl<Op, T, U, E> Worker<Op, T, U, E>
where
    Op: Operation<T, Output = U, Error = E>,
    T: Clone + Send + 'static,
    U: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    pub(crate) async fn run(self) {
        let mut parked: DelayQueue<Job<T>> = DelayQueue::new();
        let mut held: FxHashMap<u64, VecDeque<Job<T>>> = FxHashMap::default();
        let mut out = Vec::new();
        let mut open = true;
        loop {
            let (batch, resumed) = tokio::select! {
                biased;
                Some(expired) = futures::future::poll_fn(|cx| parked.poll_expired(cx)), if !parked.is_empty() => {
                    (vec![expired.into_inner()], true)
                }
                batch = self.queue.recv(), if open => match batch {
                    Ok(batch) => (batch, false),
                    Err(_) => {
                        open = false;
                        continue;
                    }
                },
                else => break,
            };
            out.reserve(batch.len());
            // When the next attempt starts: refreshed after every attempt that
            // waited, so that each item's time limits count from its own first
            // attempt, not from the start of its hand-off.
            let mut started = Instant::now();
            let mut waited = false;
            // Items of a key released by a finished retry go before the rest.
            let mut released: VecDeque<Job<T>> = VecDeque::new();
            let mut jobs = batch.into_iter();
            loop {
                let (job, resumed) = match released.pop_front() {
                    Some(job) => (job, true),
                    None => match jobs.next() {
                        Some(job) => (job, resumed),
                        None => break,
                    },
                };
                if self.hold_keys
                    && !resumed
                    && let Some(queue) = held.get_mut(&job.key)
                {
                    queue.push_back(job);
                    continue;
                }
                let key = job.key;
                match self.attempt(job, &mut started, &mut out, &mut waited).await {
                    Next::Parked(job, delay) => {
                        if self.hold_keys {
                            held.entry(key).or_default();
                        }
                        // The timer wheel takes delays up to about two years;
                        // a longer one (a huge cap or Retry-After) waits a year.
                        parked.insert(job, delay.min(MAX_PARK));
                    }
                    Next::Finished if self.hold_keys => {
                        if let Some(queue) = held.get_mut(&key) {
                            match queue.pop_front() {
                                Some(next) => released.push_back(next),
                                None => {
                                    held.remove(&key);
                                }
                            }
                        }
                    }
                    Next::Finished => {}
                }
            }
            if !waited {
                self.hint.fast();
            }
            self.flush(&mut out);
        }
    }

    fn flush(&self, out: &mut Vec<Done<U, T, E>>) {
        if !out.is_empty() {
            // The output is gone only when the stage is being dropped.
            let _ = self.output.send(std::mem::take(out));
        }
    }

    /// Makes one attempt; the result goes to `out`, or the item is parked.
    async fn attempt(
        &self,
        mut job: Job<T>,
        started: &mut Instant,
        out: &mut Vec<Done<U, T, E>>,
        waited: &mut bool,
    ) -> Next<T> {
        let began = *started;
        let op = &*self.op;
        let item = job.item.clone();
        let outcome = match catch_unwind(AssertUnwindSafe(|| op.apply(item))) {
            Ok(fut) => {
                let mut fut = pin!(AssertUnwindSafe(fut).catch_unwind());
                match fut.as_mut().now_or_never() {
                    Some(outcome) => outcome,
                    None => {
                        // A slow operation: hand what is finished downstream
                        // now, and spread the next items one by one.
                        *waited = true;
                        self.hint.slow();
                        self.flush(out);
                        let outcome = fut.await;
                        *started = Instant::now();
                        outcome
                    }
                }
            }
            Err(payload) => Err(payload),
        };
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
                    attempt.next(delay);
                    job.attempt = Some(Box::new(attempt));
                    return Next::Parked(job, delay);
                }
                let (cause, class) = give_up(verdict, error);
                Err(Box::new(Failed { item: job.item, cause, class, attempts: attempt.number() }))
            }
            Err(payload) => {
                let attempts = job.attempt.as_ref().map_or(1, |a| a.number());
                let cause = Cause::from_panic(&*payload);
                Err(Box::new(Failed { item: job.item, cause, class: ErrorClass::Poison, attempts }))
            }
        };
        let attempts = match &result {
            Ok(_) => job.attempt.as_ref().map_or(1, |a| a.number()),
            Err(failed) => failed.attempts,
        };
        if attempts > 1 {
            self.ctx.metrics().record_attempts(attempts, job.meta.count());
        }
        out.push(Done { seq: job.seq, lane: self.lane, meta: job.meta, result });
        Next::Finished
    }
}
