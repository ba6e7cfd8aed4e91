//! The seed's example 1, done right: one producer, one consumer, a bounded
//! queue of 10 between them, and no sentinel: the end of the stream ends
//! the consumer.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::time::sleep;
use weir::prelude::*;
use weir::sink;

/// The producer: adds `total` items, waiting `pause` after each.
pub fn producer(total: u32, pause: Duration, log: Log) -> impl Stream<Item = u32> + Send + 'static {
    async_stream::stream! {
        for i in 0..total {
            log.say(format!("Producer adding item {i}"));
            yield i;
            sleep(pause).await;
        }
        log.say("Producer finished.".to_owned());
    }
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
    let consumer_log = log.clone();
    let report = Pipeline::new(producer(5, Duration::from_millis(100), log.clone()))
        .buffer("queue", 10)
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
        .run()
        .await?;
    log.say("Consumer exiting, end of work.".to_owned());
    Ok(report)
}
