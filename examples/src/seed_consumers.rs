//! The seed's example 2, done right: one producer, three consumers sharing
//! a bounded queue of 10 items, and no sentinel: when the producer's stream
//! ends, the fan-out's workers drain the queue and stop, and the run
//! returns only once all of them have ended.
//!
//! A fan-out operation does not know which worker runs it, so the consumer
//! a line names is modelled explicitly: a FIFO pool of consumer ids, one
//! taken when an operation starts and given back when it ends. At most
//! three operations run at once (one per worker), so the pool never runs
//! dry, and its FIFO order gives the items to the consumers round-robin,
//! as asyncio's queue hands them to its waiting consumers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
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
    /// The consumers that exited, in the order they said so.
    pub exited: Vec<usize>,
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

/// The free consumer ids, first free first.
#[derive(Debug)]
struct Consumers(Mutex<VecDeque<usize>>);

impl Consumers {
    fn new(n: usize) -> Self {
        Self(Mutex::new((0..n).collect()))
    }

    fn take(&self) -> usize {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        free.pop_front().expect("one id per worker, and a worker runs one operation at a time")
    }

    fn give_back(&self, id: usize) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push_back(id);
    }
}

/// The producer: `total` items, waiting `pause` after each, then the end of
/// the stream (no sentinel).
fn producer(total: u32, pause: Duration) -> impl Stream<Item = u32> + Send + 'static {
    async_stream::stream! {
        for i in 0..total {
            yield i;
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
    let pool = Arc::new(Consumers::new(scenario.consumers));
    let (consumer_log, work) = (log.clone(), scenario.work);
    let consume = move |item: u32| {
        let (pool, log) = (pool.clone(), consumer_log.clone());
        async move {
            let consumer = pool.take();
            let at = start.elapsed();
            log.say(format!("Consumer {consumer} processed item {item}"));
            sleep(work).await;
            pool.give_back(consumer);
            Ok::<_, Infallible>(Processed { item, consumer, at })
        }
    };
    let (sink, processed) = sink::collect();
    let report = Pipeline::new(producer(scenario.items, scenario.produce_every))
        .fan_out("consumers", FanOut::workers(scenario.consumers).capacity(scenario.capacity), consume)
        .halt_on_error()
        .sink_named("processed", sink)
        .run()
        .await?;
    // The run returns once the stream ended and every worker stopped:
    // every consumer has exited, none is left waiting for a sentinel.
    let exited: Vec<usize> = (0..scenario.consumers).collect();
    for consumer in &exited {
        log.say(format!("Consumer {consumer} exiting."));
    }
    Ok(Outcome { processed: processed.take(), exited, lines: log.lines(), elapsed: start.elapsed(), report })
}
