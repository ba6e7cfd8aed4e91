//! The dead-letter writer: a task that stores failures in batches,
//! retries the sink, settles what it stored and returns what it could not.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::mpsc;
use weir_core::panic_message;
use weir_core::{Attempt, Failure, RunControl, Settled, Verdict};
use weir_retry::RetryPolicy;

use crate::error::DeadLetterError;
use crate::record::DeadLetter;
use crate::sink::DeadLetterSink;

pub(crate) struct Writer<I, E, Si> {
    pub(crate) sink: Si,
    pub(crate) failures: mpsc::Receiver<Failure<I, E>>,
    pub(crate) control: RunControl,
    pub(crate) policy: RetryPolicy,
    pub(crate) max_batch: usize,
    pub(crate) name: String,
    /// Set once a batch could not be stored: every later failure is returned at once.
    pub(crate) down: bool,
}

impl<I, E, Si> Writer<I, E, Si>
where
    I: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
    Si: DeadLetterSink<I>,
{
    /// Stores every failure that arrives, a batch at a time (the failures
    /// already waiting, up to `max_batch`), then syncs the sink once the
    /// input has ended.
    pub(crate) async fn run(mut self) {
        // Not `max_batch`: a large batch size bounds a batch, it must not
        // allocate one up front.
        let capacity = self.max_batch.min(crate::options::DEFAULT_MAX_BATCH);
        let mut batch = Vec::with_capacity(capacity);
        while self.failures.recv_many(&mut batch, self.max_batch).await > 0 {
            let failures = std::mem::replace(&mut batch, Vec::with_capacity(capacity));
            self.write(failures).await;
        }
        self.sync().await;
    }

    async fn write(&mut self, failures: Vec<Failure<I, E>>) {
        if self.down {
            for failure in failures {
                self.control.fail(&self.name, DeadLetterError::SinkDown, failure);
            }
            return;
        }
        let (mut records, rest) = self.storable(failures);
        if records.is_empty() {
            return;
        }
        let mut attempt = Attempt::first();
        loop {
            self.policy.deposit();
            let stored = AssertUnwindSafe(self.sink.store(records)).catch_unwind().await;
            let error = match stored {
                Ok(Ok(())) => {
                    tracing::debug!(records = rest.len(), "dead letters stored");
                    for failure in rest {
                        failure.settle(Settled::DeadLettered);
                    }
                    return;
                }
                Ok(Err(error)) => error,
                Err(payload) => {
                    let message = panic_message(&*payload);
                    self.give_up(rest, Vec::new(), DeadLetterError::SinkPanicked { message });
                    return;
                }
            };
            let class = error.class();
            let (error, back) = error.into_parts();
            records = back;
            match self.policy.decide(&mut attempt, class, None) {
                Verdict::Retry(delay) => {
                    tracing::warn!(error = %error, attempt = attempt.number(), ?delay, "dead-letter sink failed; retrying");
                    for failure in &rest {
                        failure.record_store_retry();
                    }
                    attempt.next();
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    let error =
                        DeadLetterError::StoreFailed { attempts: attempt.number(), source: Box::new(error) };
                    self.give_up(rest, records, error);
                    return;
                }
            }
        }
    }

    /// The records of `failures` that the sink can store, with the rest of
    /// their failures. A record the sink rejects fails on its own: its item
    /// is returned in the run's error (not retried: it would fail again),
    /// and the others are stored as usual.
    fn storable(&mut self, failures: Vec<Failure<I, E>>) -> (Vec<DeadLetter<I>>, Vec<Failure<(), E>>) {
        let mut records = Vec::with_capacity(failures.len());
        let mut rest = Vec::with_capacity(failures.len());
        for failure in failures {
            let (record, failure) = DeadLetter::split(failure);
            let error = match std::panic::catch_unwind(AssertUnwindSafe(|| self.sink.check(&record))) {
                Ok(Ok(())) => {
                    records.push(record);
                    rest.push(failure);
                    continue;
                }
                Ok(Err(error)) => Box::new(error) as weir_core::BoxError,
                Err(payload) => {
                    let message = format!("the sink panicked checking it: {}", panic_message(&*payload));
                    message.into()
                }
            };
            let error = DeadLetterError::Unstorable { stage: record.stage().to_owned(), source: error };
            tracing::error!(error = %error, "a dead letter cannot be stored; its item is returned");
            self.control.fail(&self.name, error, failure.map_item(|()| record.into_item()));
        }
        (records, rest)
    }

    /// Returns `failures` in the run's error, each with its item when the
    /// sink gave its record back, and stops storing.
    fn give_up(
        &mut self,
        failures: Vec<Failure<(), E>>,
        records: Vec<DeadLetter<I>>,
        error: DeadLetterError,
    ) {
        tracing::error!(error = %error, failures = failures.len(), "dead letters could not be stored");
        self.down = true;
        let mut error = Some(error);
        let mut records = records.into_iter();
        for failure in failures {
            let error = error.take().unwrap_or(DeadLetterError::SinkDown);
            match records.next() {
                Some(record) => {
                    self.control.fail(&self.name, error, failure.map_item(|()| record.into_item()))
                }
                None => self.control.fail(&self.name, error, failure),
            }
        }
    }

    /// Syncs the sink, retrying with the policy (once only if it is down).
    /// Every stored record was acknowledged already (after its flush), so a
    /// sync that keeps failing ends the run with an error that says so.
    async fn sync(&mut self) {
        let mut attempt = Attempt::first();
        loop {
            let error = match AssertUnwindSafe(self.sink.sync()).catch_unwind().await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => error.to_string(),
                Err(payload) => format!("the sink panicked: {}", panic_message(&*payload)),
            };
            let verdict = if self.down {
                Verdict::Fail(weir_core::ErrorClass::Transient)
            } else {
                self.policy.decide(&mut attempt, weir_core::ErrorClass::Transient, None)
            };
            match verdict {
                Verdict::Retry(delay) => {
                    tracing::warn!(%error, attempt = attempt.number(), ?delay, "dead-letter sink sync failed; retrying");
                    attempt.next();
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    tracing::error!(%error, "dead-letter sink sync failed; stored records may not survive a crash");
                    self.control.fail_run(&self.name, DeadLetterError::SyncFailed { message: error });
                    return;
                }
            }
        }
    }
}
