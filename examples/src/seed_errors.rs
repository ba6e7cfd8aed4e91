//! The seed's third scenario, error handling: a fallible operation,
//! retried with backoff, and the items that still fail dead-lettered with
//! their error and counted in the report, instead of printed and lost.

use std::time::Duration;

use weir::prelude::*;
use weir::sink;
use weir_deadletter::{DeadLetter, DeadLetterExt};
use weir_fanout::{FanOut, FanOutExt};
use weir_retry::{RetryExt, RetryPolicy};

/// The error of [`process`]: the seed's `ProcessingError`.
#[derive(Debug, thiserror::Error)]
#[error("cannot process item {0}: it is divisible by 3")]
pub struct ProcessingError(pub u32);

/// The seed's consumer work: fails every item divisible by 3.
pub async fn process(item: u32) -> Result<u32, ProcessingError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if item.is_multiple_of(3) { Err(ProcessingError(item)) } else { Ok(item) }
}

/// What a run of the scenario produced.
#[derive(Debug)]
pub struct Outcome {
    /// The items processed, in input order.
    pub processed: Vec<u32>,
    /// The dead letters, by item.
    pub dead_letters: Vec<DeadLetter<u32>>,
    /// The run's report.
    pub report: Report,
}

/// Processes items `0..10` on 3 workers, each item tried twice with a
/// 10 ms backoff; the items that still fail are dead-lettered. Calls
/// `on_success` for each processed item.
///
/// # Errors
///
/// The run's error (none is expected: the dead-letter sink is in memory).
pub async fn run(mut on_success: impl FnMut(u32) + Send + 'static) -> Result<Outcome, RunError> {
    let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(2);
    let (dead, records) = sink::collect();
    let (sink, processed) = sink::collect();
    let report = Pipeline::from_iter(0..10u32)
        .fan_out("process", FanOut::workers(3).capacity(10).ordered(), process.retry(policy))
        .dead_letter(dead)
        .inspect("print", move |item| on_success(*item))
        .sink(sink)
        .run()
        .await?;
    let mut dead_letters = records.take();
    dead_letters.sort_by_key(|r| *r.item());
    Ok(Outcome { processed: processed.take(), dead_letters, report })
}
