//! The seed's example 1, done right: one producer, one consumer, a bounded
//! queue of 10 between them, and no sentinel: when the producer is done it
//! drops its end of the queue, and the end of the stream ends the consumer.
//!
//! # Why the output's order is the same on every run
//!
//! Twice (at 0.2 s and 0.4 s) a consumer step and a producer step fall due
//! at the same instant. The asyncio program runs both coroutines on one
//! thread and prints the consumer's step first. Here too they take turns on
//! one task, whatever the runtime: [`run`] joins the consumer's pipeline
//! and the producer, and each time the task wakes, the consumer goes
//! first. After handing an item over, the producer lets the task turn once
//! before it pauses, so a waiting consumer starts on the item first: every
//! consumer step is then due no later than the producer step that falls
//! due with it, and comes first.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::sleep;
use tokio_stream::wrappers::ReceiverStream;
use weir::prelude::*;
use weir::sink;

/// The producer: adds `total` items to `queue`, waiting `pause` after
/// each, then drops `queue`, which ends the consumer's stream.
pub async fn producer(total: u32, pause: Duration, queue: mpsc::Sender<u32>, log: Log) {
    for i in 0..total {
        log.say(format!("Producer adding item {i}"));
        if queue.send(i).await.is_err() {
            return; // the consumer stopped
        }
        // A waiting consumer takes the item before the pause starts.
        tokio::task::yield_now().await;
        sleep(pause).await;
    }
    log.say("Producer finished.".to_owned());
}

/// What the example prints, also kept for tests.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Prints a line and keeps it.
    pub fn say(&self, line: String) {
        println!("{line}");
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs the scenario: 5 items, the producer waits 0.1 s between items, the
/// consumer takes 0.2 s per item, capacity 10.
///
/// # Errors
///
/// Only if the pipeline itself fails (it does not).
pub async fn run(log: Log) -> Result<Report, RunError> {
    let (queue, items) = mpsc::channel(10);
    let consumer_log = log.clone();
    let consumer = Pipeline::new(ReceiverStream::new(items))
        .sink_named(
            "consumer",
            sink::from_fn(move |item: u32| {
                consumer_log.say(format!("Consumer processed item {item}"));
                async {
                    sleep(Duration::from_millis(200)).await;
                    Ok::<_, Infallible>(())
                }
            }),
        )
        .run();
    // `join!` polls the consumer first, then the producer, every time.
    let (report, ()) = futures::join!(consumer, producer(5, Duration::from_millis(100), queue, log.clone()));
    let report = report?;
    log.say("Consumer exiting, end of work.".to_owned());
    Ok(report)
}
