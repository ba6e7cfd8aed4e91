//! The batch stage: item limit, weight limit, time limit (exact flush times
//! under paused time), partial flush at the end and at shutdown.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ms;
use futures::StreamExt as _;
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};

/// Batches with the time they were sent at.
type Timed<T> = Arc<Mutex<Vec<(Duration, Vec<T>)>>>;

/// A sink that records each batch with the time (since `start`) it was sent.
fn timed<T: Send + 'static>(start: Instant) -> (impl Sink<Vec<T>>, Timed<T>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    let sink = sink::from_fn(move |batch: Vec<T>| {
        keep.lock().unwrap().push((start.elapsed(), batch));
        std::future::ready(Ok::<_, Infallible>(()))
    });
    (sink, log)
}

#[tokio::test(start_paused = true)]
async fn item_limit_cuts_batches_and_the_rest_is_flushed_at_the_end() {
    let start = Instant::now();
    let (sink, out) = timed(start);
    let report = Pipeline::from_iter(0..7)
        .batch("group", 3, Duration::from_secs(3600))
        .sink(sink)
        .run()
        .await
        .unwrap();
    let out = out.lock().unwrap().clone();
    assert_eq!(out, [(ms(0), vec![0, 1, 2]), (ms(0), vec![3, 4, 5]), (ms(0), vec![6])]);
    assert_eq!(start.elapsed(), ms(0), "the partial batch did not wait for max_wait");
    let group = report.stage("group").unwrap();
    assert_eq!((group.received, group.emitted), (7, 7), "batches count source items");
    assert_eq!(report.delivered(), 7);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn weight_limit_flushes_before_an_item_would_exceed_it() {
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter([3usize, 2, 2, 5, 9, 1, 1, 1, 1, 1, 1, 1])
        .batch_weighted("bytes", 5, 5, Duration::from_secs(3600), |w: &usize| *w)
        .sink(sink)
        .run()
        .await
        .unwrap();
    // 3+2 reaches 5: flush; 2 then 5 would exceed: flush [2]; 5 alone; 9 is
    // heavier than the limit and travels alone; then the item limit (5) cuts.
    assert_eq!(out.take(), [vec![3, 2], vec![2], vec![5], vec![9], vec![1, 1, 1, 1, 1], vec![1, 1]]);
    assert_eq!(report.delivered(), 12);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn time_limit_flushes_max_wait_after_the_first_item() {
    let start = Instant::now();
    // Items at 0, 10, 100, 120 ms; the source ends at 300 ms.
    let source = async_stream::stream! {
        for (at, item) in [(0, 'a'), (10, 'b'), (100, 'c'), (120, 'd')] {
            tokio::time::sleep_until(start + ms(at)).await;
            yield item;
        }
        tokio::time::sleep_until(start + ms(300)).await;
    };
    let (sink, out) = timed(start);
    let report = Pipeline::new(source).batch("group", 10, ms(50)).sink(sink).run().await.unwrap();
    let out = out.lock().unwrap().clone();
    assert_eq!(out, [(ms(50), vec!['a', 'b']), (ms(150), vec!['c', 'd'])]);
    assert_eq!(report.wall_time(), ms(300));
    assert_eq!(report.delivered(), 4);
}

#[tokio::test(start_paused = true)]
async fn item_limit_wins_when_it_comes_before_the_deadline() {
    let start = Instant::now();
    // One item every 20 ms, forever; 3 items per batch at most, 50 ms at most.
    let source = async_stream::stream! {
        let mut i = 0u32;
        loop {
            tokio::time::sleep_until(start + ms(20 * u64::from(i))).await;
            yield i;
            i += 1;
        }
    };
    let (sink, out) = timed(start);
    let report = Pipeline::new(source)
        .batch("group", 3, ms(50))
        .sink(sink)
        .run_until(tokio::time::sleep(ms(130)))
        .await
        .unwrap();
    let out = out.lock().unwrap().clone();
    // 0, 1, 2 arrive at 0, 20, 40: the item limit flushes at 40, before the
    // deadline (50). 3, 4, 5 arrive at 60, 80, 100: the item limit flushes at
    // 100, before the deadline restarted by 3 (110). 6 arrives at 120; the
    // shutdown at 130 flushes it as a partial batch.
    assert_eq!(out, [(ms(40), vec![0, 1, 2]), (ms(100), vec![3, 4, 5]), (ms(130), vec![6])]);
    assert_eq!(report.ending(), Ending::Drained);
    assert_eq!(report.source_items(), 7);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_the_partial_batch() {
    let source = futures::stream::iter([1, 2]).chain(futures::stream::pending());
    let (sink, out) = sink::collect();
    let handle =
        Pipeline::new(source).batch("group", 10, Duration::from_secs(3600)).sink(sink).spawn().unwrap();
    tokio::time::sleep(ms(5)).await;
    assert!(out.is_empty(), "nothing is flushed before a limit is reached");
    assert_eq!(handle.report().stage("group").unwrap().in_flight, 2);
    let report = handle.shutdown().await.unwrap();
    assert_eq!(out.take(), [vec![1, 2]]);
    assert_eq!(report.ending(), Ending::Drained);
    assert!(report.is_conserved());
}
