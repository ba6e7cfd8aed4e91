//! The sampler records what a user would count: one sample per interval,
//! the rates of that interval, a bounded history, fan-out workers, queue
//! and parked retries, and a last sample that says how the run ended.

use std::convert::Infallible;
use std::time::Duration;

use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::IntervalStream;
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_retry::{RetryExt, RetryPolicy};
use weir_view::{InvalidSampler, Sampler};

const SECOND: Duration = Duration::from_secs(1);

/// Ten items a second (one per 100 ms), `n` of them.
fn ten_a_second(n: usize) -> impl futures::Stream<Item = u64> + Send + 'static {
    IntervalStream::new(tokio::time::interval(Duration::from_millis(100))).take(n).map(|_| 1)
}

#[tokio::test(start_paused = true)]
async fn one_sample_an_interval_with_the_rates_of_that_interval() {
    let handle = Pipeline::new(ten_a_second(1000))
        .buffer("queue", 8)
        .sink_named("store", sink::drain())
        .spawn()
        .unwrap();
    let sampling = Sampler::new().every(SECOND).start(handle.monitor()).unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let snapshot = sampling.history().snapshot();
    assert_eq!(snapshot.samples.len(), 3);
    let mut delivered = Vec::new();
    for (i, sample) in snapshot.samples.iter().enumerate() {
        assert!((sample.at - (i + 1) as f64).abs() < 0.01, "sample {i} at {}", sample.at);
        assert!((sample.interval - 1.0).abs() < 0.01, "interval {}", sample.interval);
        assert!(sample.conservation.holds() && sample.conservation.running, "{}", sample.conservation);
        let store = sample.stage("store").unwrap();
        assert!((9.0..=11.0).contains(&store.in_per_sec), "store took {} items/s", store.in_per_sec);
        let queue = sample.stage("queue").unwrap();
        assert_eq!(queue.queue.map(|(_, capacity)| capacity), Some(8));
        delivered.push(store.emitted);
    }
    assert!(delivered.windows(2).all(|w| (9..=11).contains(&(w[1] - w[0]))), "{delivered:?}");
    drop(handle);
}

#[tokio::test(start_paused = true)]
async fn the_history_keeps_the_last_samples_only() {
    let handle = Pipeline::new(ten_a_second(1000)).sink(sink::drain()).spawn().unwrap();
    let sampling = Sampler::new().every(SECOND).keep(2).start(handle.monitor()).unwrap();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let at: Vec<f64> = sampling.history().snapshot().samples.iter().map(|s| s.at.round()).collect();
    assert_eq!(at, [4.0, 5.0]);
}

#[tokio::test(start_paused = true)]
async fn finishing_adds_the_ending_and_takes_no_more_samples() {
    let handle = Pipeline::new(ten_a_second(25)).sink(sink::drain()).spawn().unwrap();
    let sampling = Sampler::new().every(SECOND).start(handle.monitor()).unwrap();
    let report = handle.join().await.unwrap();
    let history = sampling.finish(&report);
    tokio::time::sleep(5 * SECOND).await;
    let snapshot = history.snapshot();
    assert_eq!(snapshot.ended.as_deref(), Some("Completed"));
    // Samples at 1 s and 2 s, then the last one at the end (2.4 s).
    assert_eq!(snapshot.samples.len(), 3);
    let last = snapshot.samples.back().unwrap();
    assert_eq!(last.conservation.delivered, 25);
    assert!(!last.conservation.running && last.conservation.holds(), "{}", last.conservation);
    assert!(last.conservation.to_string().contains("abandoned 0"), "{}", last.conservation);
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("not yet")]
struct NotYet;

#[tokio::test(start_paused = true)]
async fn a_fan_out_shows_its_workers_queue_and_parked_retries() {
    // Every item fails its first attempt and waits 10 s for its retry.
    let tried = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let op = move |n: u64| {
        let first = tried.lock().unwrap().insert(n);
        async move { if first { Err(NotYet) } else { Ok(n) } }
    };
    let policy = RetryPolicy::constant(10 * SECOND).max_attempts(3);
    let handle = Pipeline::from_iter(0..100_u64)
        .fan_out("lookup", FanOut::workers(3).capacity(6), op.retry(policy))
        .discard_failures()
        .sink(sink::drain())
        .spawn()
        .unwrap();
    let sampling = Sampler::new().every(SECOND).start(handle.monitor()).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sample = sampling.history().latest().unwrap();
    let lookup = sample.stage("lookup").unwrap();
    assert_eq!(lookup.limit, Some(3));
    // What it can hold: the queue's 6 and one item in each worker's hands.
    assert_eq!(lookup.queue.map(|(_, capacity)| capacity), Some(9));
    let parked = lookup.retries_parked.unwrap();
    assert!(parked > 0, "{lookup:?}");
    assert!(lookup.in_flight >= parked, "{lookup:?}");
    assert!(lookup.retries >= parked, "a parked item has its retry counted: {lookup:?}");
    let report = handle.join().await.unwrap();
    assert_eq!(report.delivered(), 100);
    let history = sampling.finish(&report);
    let last = history.latest().unwrap();
    assert_eq!(last.stage("lookup").unwrap().retries_parked, Some(0));
    assert_eq!(last.stage("lookup").unwrap().retries, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_reads_busy_and_the_stage_before_it_backpressured() {
    // Real time: stage timing is wall-clock. Each write blocks 2 ms (so
    // the sampler needs a thread of its own).
    let slow = sink::from_fn(|_: u64| async {
        std::thread::sleep(Duration::from_millis(2));
        Ok::<_, Infallible>(())
    });
    let handle =
        Pipeline::from_iter(0..400_u64).map("double", |x| x * 2).sink_named("store", slow).spawn().unwrap();
    let sampling = Sampler::new().every(Duration::from_millis(200)).start(handle.monitor()).unwrap();
    let report = handle.join().await.unwrap();
    let history = sampling.finish(&report);
    let snapshot = history.snapshot();
    assert!(snapshot.samples.len() >= 3, "{} samples", snapshot.samples.len());
    for sample in snapshot.samples.iter().take(3) {
        let (store, double) = (sample.stage("store").unwrap(), sample.stage("double").unwrap());
        assert!(store.busy > 0.7, "store busy {}", store.busy);
        assert!(double.backpressured > 0.7, "double backpressured {}", double.backpressured);
        assert!(double.busy < 0.2, "double busy {}", double.busy);
    }
    // Latency is recorded when a flush commits the items: marked items
    // waited behind the slow writes.
    let p50: Vec<f64> = snapshot.samples.iter().filter_map(|s| s.stage("store").unwrap().p50_ms).collect();
    assert!(!p50.is_empty() && p50.iter().all(|ms| *ms >= 2.0), "{p50:?}");
}

#[tokio::test]
async fn a_zero_interval_or_an_empty_history_is_refused() {
    let handle = Pipeline::from_iter(0..1_u64).sink(sink::drain()).spawn().unwrap();
    let zero = Sampler::new().every(Duration::ZERO).start(handle.monitor()).unwrap_err();
    assert!(matches!(zero, InvalidSampler::ZeroInterval), "{zero}");
    let none = Sampler::new().keep(0).start(handle.monitor()).unwrap_err();
    assert!(matches!(none, InvalidSampler::NothingKept), "{none}");
    handle.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_is_never_more_than_wholly_busy_idle_and_backpressured() {
    // Like the ingest job: a source that works for its items, a fallible
    // step, a fan-out, a batch and a sink that takes its time.
    let frames = futures::stream::iter(0..200_000_u64).map(|n| {
        let mut x = n;
        for _ in 0..200 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        if n.is_multiple_of(100) { Err(std::io::Error::other("bad frame")) } else { Ok(x) }
    });
    let slow = sink::from_fn(|batch: Vec<u64>| async move {
        tokio::time::sleep(Duration::from_micros(50 * batch.len() as u64 / 10)).await;
        Ok::<_, Infallible>(())
    });
    let handle = Pipeline::try_new("read", frames)
        .discard_failures()
        .try_map(
            "decode",
            |x: u64| if x.is_multiple_of(7) { Err(std::io::Error::other("odd")) } else { Ok(x) },
        )
        .discard_failures()
        .fan_out("enrich", FanOut::workers(2), |x: u64| async move { Ok::<_, Infallible>(x + 1) })
        .discard_failures()
        .batch("batch", 500, Duration::from_millis(20))
        .sink_named("store", slow)
        .spawn()
        .unwrap();
    let sampling = Sampler::new().every(Duration::from_millis(100)).start(handle.monitor()).unwrap();
    let report = handle.join().await.unwrap();
    let history = sampling.finish(&report);
    let snapshot = history.snapshot();
    assert!(snapshot.samples.len() >= 3, "{} samples", snapshot.samples.len());
    let last = snapshot.samples.len() - 1;
    for (i, sample) in snapshot.samples.iter().enumerate() {
        // Timed at all: while the run goes on, the source works or waits
        // on the slow end.
        let source = sample.stage("source").unwrap();
        assert!(i == last || source.busy + source.backpressured > 0.5, "{source:?}");
        for stage in &sample.stages {
            let sum = stage.busy + stage.idle + stage.backpressured;
            assert!(sum <= 1.05, "{} at {:.2}: {stage:?}", stage.name, sample.at);
        }
    }
}
