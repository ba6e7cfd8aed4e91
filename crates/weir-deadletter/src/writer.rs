//! The dead-letter writer: a task that sends failures' records to the
//! store a group at a time, flushes after each group, retries the store,
//! settles what it stored and returns what it could not.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::mpsc;
use weir_core::sink::BoxSinkError;
use weir_core::{Attempt, BoxError, Failure, RunControl, Settled, Sink, panic_message};

use crate::error::DeadLetterError;
use crate::options::store_backoff;
use crate::record::DeadLetter;

pub(crate) struct Writer<I, E, Si> {
    pub(crate) sink: Si,
    pub(crate) failures: mpsc::Receiver<Failure<I, E>>,
    pub(crate) control: RunControl,
    /// Tries of a record or a flush before giving up.
    pub(crate) store_attempts: u32,
    pub(crate) max_batch: usize,
    pub(crate) name: String,
    /// Set once the store failed for good: every later failure is returned at once.
    pub(crate) down: bool,
}

/// How sending one record ended.
enum Sent<I> {
    Stored,
    /// The store can never take this record: it fails alone.
    Rejected {
        error: BoxError,
        item: Option<I>,
    },
    /// The store failed for good (retries used up, or it panicked).
    Failed {
        error: DeadLetterError,
        item: Option<I>,
    },
}

impl<I, E, Si> Writer<I, E, Si>
where
    I: Send + 'static,
    E: weir_core::StageError,
    Si: Sink<DeadLetter<I>>,
{
    /// Stores every failure that arrives, a group at a time (the failures
    /// already waiting, up to `max_batch`), then flushes the store once
    /// more when the input has ended.
    pub(crate) async fn run(mut self) {
        // Not `max_batch`: a large batch size bounds a group, it must not
        // allocate one up front.
        let capacity = self.max_batch.min(crate::options::DEFAULT_MAX_BATCH);
        let mut group = Vec::with_capacity(capacity);
        while self.failures.recv_many(&mut group, self.max_batch).await > 0 {
            let failures = std::mem::replace(&mut group, Vec::with_capacity(capacity));
            self.write(failures).await;
        }
        self.finish().await;
    }

    /// Sends each failure's record, then flushes; settles the failures
    /// once the flush succeeded.
    async fn write(&mut self, failures: Vec<Failure<I, E>>) {
        if self.down {
            for failure in failures {
                self.control.fail(&self.name, DeadLetterError::SinkDown, failure);
            }
            return;
        }
        let mut sent = Vec::with_capacity(failures.len());
        let mut failures = failures.into_iter();
        while let Some(failure) = failures.next() {
            let (record, failure) = DeadLetter::split(failure);
            let (outcome, retries) = self.send(record).await;
            for _ in 0..retries {
                failure.record_store_retry();
            }
            match outcome {
                Sent::Stored => sent.push(failure),
                Sent::Rejected { error, item } => {
                    let error =
                        DeadLetterError::Unstorable { stage: failure.stage().to_owned(), source: error };
                    tracing::error!(error = %error, "a dead letter cannot be stored; its item is returned");
                    self.fail(error, failure, item);
                }
                Sent::Failed { error, item } => {
                    tracing::error!(error = %error, "dead letters could not be stored");
                    self.down = true;
                    self.fail(error, failure, item);
                    // The records sent before it may still be stored: one try.
                    if !sent.is_empty() {
                        self.flush(sent, 1).await;
                    }
                    for failure in failures {
                        self.control.fail(&self.name, DeadLetterError::SinkDown, failure);
                    }
                    return;
                }
            }
        }
        if !sent.is_empty() {
            self.flush(sent, self.store_attempts).await;
        }
    }

    /// Sends `record`, trying again while the store gives it back with a
    /// retryable error, up to the stage's attempts. Also returns the
    /// retries made (the stage's and the store's own).
    async fn send(&mut self, mut record: DeadLetter<I>) -> (Sent<I>, u32) {
        let (mut tries, mut attempts) = (0, 0);
        let outcome = loop {
            tries += 1;
            let result = AssertUnwindSafe(self.sink.send(record)).catch_unwind().await;
            attempts += self.attempts_made();
            let error = match result {
                Ok(Ok(())) => break Sent::Stored,
                Ok(Err(error)) => error,
                Err(payload) => {
                    let message = panic_message(&*payload);
                    break Sent::Failed { error: DeadLetterError::SinkPanicked { message }, item: None };
                }
            };
            let class = error.class();
            let (error, back) = error.into_parts();
            if !class.is_retryable() {
                break Sent::Rejected { error: boxed(error), item: back.map(DeadLetter::into_item) };
            }
            let delay = store_backoff(tries, self.store_attempts);
            match (back, delay) {
                (Some(back), Some(delay)) => {
                    tracing::warn!(%error, attempt = tries, ?delay, "dead-letter store failed; retrying");
                    tokio::time::sleep(delay).await;
                    record = back;
                }
                (back, _) => {
                    let error = DeadLetterError::StoreFailed { attempts, source: boxed(error) };
                    break Sent::Failed { error, item: back.map(DeadLetter::into_item) };
                }
            }
        };
        (outcome, attempts - 1)
    }

    /// Flushes the store, trying at most `tries` times; settles `sent` as
    /// dead-lettered once it succeeds, else returns them (their records
    /// are in the store's hands, so without their items).
    async fn flush(&mut self, sent: Vec<Failure<(), E>>, max_tries: u32) {
        let (mut tries, mut attempts) = (0, 0);
        let error = loop {
            tries += 1;
            let result = AssertUnwindSafe(self.sink.flush()).catch_unwind().await;
            let made = self.attempts_made();
            for _ in 1..made {
                sent.iter().for_each(Failure::record_store_retry);
            }
            attempts += made;
            let error = match result {
                Ok(Ok(())) => {
                    tracing::debug!(records = sent.len(), "dead letters stored");
                    for failure in sent {
                        failure.settle(Settled::DeadLettered);
                    }
                    return;
                }
                Ok(Err(error)) => error,
                Err(payload) => break DeadLetterError::SinkPanicked { message: panic_message(&*payload) },
            };
            match store_backoff(tries, max_tries) {
                Some(delay) => {
                    tracing::warn!(%error, attempt = tries, ?delay, "dead-letter store failed to flush; retrying");
                    sent.iter().for_each(Failure::record_store_retry);
                    tokio::time::sleep(delay).await;
                }
                None => break DeadLetterError::StoreFailed { attempts, source: boxed(error) },
            }
        };
        tracing::error!(error = %error, failures = sent.len(), "dead letters could not be stored");
        self.down = true;
        let mut error = Some(error);
        for failure in sent {
            let error = error.take().unwrap_or(DeadLetterError::SinkDown);
            self.control.fail(&self.name, error, failure);
        }
    }

    /// Flushes the store once more when the input has ended, so that it
    /// puts what it stored on stable storage (a file: `fsync`), trying as
    /// often as a group's flush. Every stored record was acknowledged
    /// already, so a flush that keeps failing ends the run with an error
    /// that says so. A store that failed for good is left alone.
    async fn finish(&mut self) {
        if self.down {
            return;
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match AssertUnwindSafe(self.sink.flush()).catch_unwind().await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => error.to_string(),
                Err(payload) => format!("the store panicked: {}", panic_message(&*payload)),
            };
            match store_backoff(tries, self.store_attempts) {
                Some(delay) => {
                    tracing::warn!(%error, attempt = tries, ?delay, "dead-letter store's final flush failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    tracing::error!(%error, "dead-letter store's final flush failed; stored records may not survive a crash");
                    self.control.fail_run(&self.name, DeadLetterError::SyncFailed { message: error });
                    return;
                }
            }
        }
    }

    /// The attempts the store's latest call made: more than one when it
    /// retries by itself (a retry layer).
    fn attempts_made(&self) -> u32 {
        self.sink.last_attempt().map_or(1, Attempt::number).max(1)
    }

    /// Returns `failure` in the run's error, with its item if the store gave it back.
    fn fail(&self, error: DeadLetterError, failure: Failure<(), E>, item: Option<I>) {
        match item {
            Some(item) => self.control.fail(&self.name, error, failure.map_item(|()| item)),
            None => self.control.fail(&self.name, error, failure),
        }
    }
}

/// The store's error, boxed; a boxed store's ([`BoxSinkError`]) is
/// unwrapped, so that it downcasts to the store's own error type.
fn boxed<Er: std::error::Error + Send + Sync + 'static>(error: Er) -> BoxError {
    let error: BoxError = Box::new(error);
    match error.downcast::<BoxSinkError>() {
        Ok(boxed) => boxed.into_inner(),
        Err(error) => error,
    }
}
