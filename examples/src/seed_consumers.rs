//! The seed's example 2, done right: one producer, three consumers sharing
//! a bounded queue of 10 items, and no sentinel: when the producer's stream
//! ends, the fan-out's workers drain the queue and stop, and the run
//! returns only once all of them have ended.
//!
//! Each consumer is a fan-out worker with an operation of its own
//! ([`fan_out_with`](weir::fanout::FanOutExt::fan_out_with)): it names
//! the consumer in the lines it prints, and the worker drops it when it
//! stops, which prints the consumer's exit line at that moment, as the
//! asyncio consumers do when they take their sentinel. The idle consumers
//! stop as soon as the stream ends; the busy one after its last item.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;
use tokio::time::{Instant, sleep};
use weir::prelude::*;
use weir::sink;

/// The scenario's sizes and delays.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// How many items the producer makes.
    pub items: u32,
    /// How many consumers (fan-out workers) share the queue.
    pub consumers: usize,
    /// The queue's capacity in items.
    pub capacity: usize,
    /// How long the producer waits after each item.
    pub produce_every: Duration,
    /// How long a consumer takes per item.
    pub work: Duration,
}

impl Default for Scenario {
    /// The seed's numbers: 10 items, 3 consumers, capacity 10, the producer
    /// waits 0.1 s between items, each consumer takes 0.2 s per item.
    fn default() -> Self {
        Self {
            items: 10,
            consumers: 3,
            capacity: 10,
            produce_every: Duration::from_millis(100),
            work: Duration::from_millis(200),
        }
    }
}

/// One item, processed by one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    /// The item.
    pub item: u32,
    /// The consumer that processed it.
    pub consumer: usize,
    /// When it started, since the run started.
    pub at: Duration,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every item processed, in the order the consumers finished them.
    pub processed: Vec<Processed>,
    /// The consumers that exited, in the order they said so, with the
    /// time since the run started.
    pub exited: Vec<(usize, Duration)>,
    /// The lines printed.
    pub lines: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
    /// The run's report.
    pub report: Report,
}

/// Prints lines and keeps them for tests.
#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn say(&self, line: String) {
        println!("{line}");
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One consumer: a fan-out worker's own operation.
#[derive(Debug)]
struct Consumer {
    id: usize,
    work: Duration,
    start: Instant,
    log: Log,
    exited: Arc<Mutex<Vec<(usize, Duration)>>>,
}

impl Operation<u32> for Consumer {
    type Output = Processed;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Processed, Infallible>>;

    fn apply(&self, item: u32) -> Self::Future {
        let (consumer, at, work) = (self.id, self.start.elapsed(), self.work);
        self.log.say(format!("Consumer {consumer} processed item {item}"));
        Box::pin(async move {
            sleep(work).await;
            Ok(Processed { item, consumer, at })
        })
    }
}

/// The worker drops its operation when it stops: the consumer exits then.
impl Drop for Consumer {
    fn drop(&mut self) {
        self.log.say(format!("Consumer {} exiting.", self.id));
        self.exited.lock().unwrap_or_else(|e| e.into_inner()).push((self.id, self.start.elapsed()));
    }
}

/// The producer: `total` items, waiting `pause` after each, then the end of
/// the stream (no sentinel).
fn producer(total: u32, pause: Duration) -> impl Stream<Item = u32> + Send + 'static {
    async_stream::stream! {
        for i in 0..total {
            yield i;
            // A waiting consumer takes the item before the pause starts.
            tokio::task::yield_now().await;
            sleep(pause).await;
        }
    }
}

/// Runs the scenario and returns who processed what.
///
/// # Errors
///
/// Only if the pipeline itself fails (it does not: consumers cannot fail).
pub async fn run(scenario: Scenario) -> Result<Outcome, RunError> {
    let start = Instant::now();
    let log = Log::default();
    let exited = Arc::new(Mutex::new(Vec::new()));
    let (consumer_log, consumers_exited, work) = (log.clone(), exited.clone(), scenario.work);
    let consumer =
        move |id| Consumer { id, work, start, log: consumer_log.clone(), exited: consumers_exited.clone() };
    let (sink, processed) = sink::collect();
    let report = Pipeline::new(producer(scenario.items, scenario.produce_every))
        .fan_out_with("consumers", FanOut::workers(scenario.consumers).capacity(scenario.capacity), consumer)
        .halt_on_error()
        .sink_named("processed", sink)
        .run()
        .await?;
    // The run returns once the stream ended and every worker stopped:
    // every consumer has exited, none is left waiting for a sentinel.
    let exited = exited.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Outcome { processed: processed.take(), exited, lines: log.lines(), elapsed: start.elapsed(), report })
}
