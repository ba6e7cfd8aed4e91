//! Any duration a user can pass works: a batch `max_wait` or a drain
//! timeout of `Duration::MAX` (or of 30 years or more) means "never", and
//! nothing panics, under paused time.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};

const HOUR: Duration = Duration::from_secs(3600);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// The longest duration that can be added to now without overflow (now is
/// frozen under paused time). tokio's timer rounds a deadline up to the
/// next millisecond, which overflows for this one.
fn longest_addable() -> Duration {
    let now = Instant::now();
    let (mut fits, mut overflows) = (Duration::ZERO, Duration::MAX);
    while overflows - fits > Duration::from_nanos(1) {
        let mid = fits + (overflows - fits) / 2;
        if now.checked_add(mid).is_some() {
            fits = mid;
        } else {
            overflows = mid;
        }
    }
    fits
}

#[tokio::test(start_paused = true)]
async fn a_batch_waiting_duration_max_is_cut_by_size_and_at_the_end() {
    for max_wait in [Duration::MAX, longest_addable(), weir_core::time::NEVER_AFTER] {
        let start = Instant::now();
        let (sink, out) = sink::collect();
        let report = Pipeline::from_iter(0..5)
            .batch("group", 2, max_wait)
            .sink(sink)
            .run()
            .await
            .unwrap_or_else(|e| panic!("max_wait {max_wait:?}: {e}"));
        assert_eq!(out.take(), [vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(report.is_conserved());
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_waiting_duration_max_never_flushes_on_time() {
    let source = async_stream::stream! {
        yield 0;
        tokio::time::sleep(HOUR).await;
        yield 1;
        tokio::time::sleep(HOUR).await;
    };
    let start = Instant::now();
    let (sink, out) = timed(start);
    Pipeline::new(source).batch("group", 10, Duration::MAX).sink(sink).run().await.unwrap();
    assert_eq!(out.lock().unwrap().clone(), [(2 * HOUR, vec![0, 1])], "one batch, at the end of the input");
}

#[tokio::test(start_paused = true)]
async fn a_drain_timeout_of_duration_max_never_aborts() {
    let (sink, out) = sink::collect();
    // An item that takes 40 years: longer than tokio's longest sleep.
    let slow = |x: u64| async move {
        tokio::time::sleep(20 * YEAR).await;
        tokio::time::sleep(20 * YEAR).await;
        x
    };
    let handle = Pipeline::from_iter(0u64..)
        .then("slow", slow)
        .sink(sink)
        .drain_timeout(Duration::MAX)
        .spawn()
        .unwrap();
    tokio::time::sleep(HOUR).await;
    let start = Instant::now();
    let report = handle.shutdown().await.unwrap();
    assert_eq!(start.elapsed(), 40 * YEAR - HOUR, "shutdown waited for the item in flight");
    assert_eq!(out.take(), [0]);
    assert_eq!((report.ending(), report.abandoned()), (Ending::Drained, 0));
    assert!(report.is_conserved());
}

/// Batches with the time they came at.
type Timed<T> = Arc<Mutex<Vec<(Duration, Vec<T>)>>>;

/// A sink that records each batch with the time since `start` it came at.
fn timed<T: Send + 'static>(start: Instant) -> (impl Sink<Vec<T>>, Timed<T>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    let sink = sink::from_fn(move |batch: Vec<T>| {
        keep.lock().unwrap().push((start.elapsed(), batch));
        std::future::ready(Ok::<_, Infallible>(()))
    });
    (sink, log)
}
