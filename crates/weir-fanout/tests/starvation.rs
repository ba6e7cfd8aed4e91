//! No starvation: workers are tasks, so operations progress while the
//! consumer downstream awaits (the `buffer_unordered`-inside-a-loop stall,
//! futures-rs #2387, does not exist here).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep};
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};

const N: usize = 30;
const WORKERS: usize = 3;
const WORK: Duration = Duration::from_millis(10);
const SINK: Duration = Duration::from_millis(100);

type Intervals = Arc<Mutex<Vec<(Duration, Duration)>>>;

/// The most intervals that overlap at one instant inside `[from, to)`.
fn max_overlap_within(intervals: &[(Duration, Duration)], from: Duration, to: Duration) -> usize {
    intervals
        .iter()
        .map(|&(start, _)| start)
        .filter(|t| (from..to).contains(t))
        .map(|t| intervals.iter().filter(|&&(s, e)| s <= t && t < e).count())
        .max()
        .unwrap_or(0)
}

async fn slow_sink_run(config: FanOut) {
    let start = Instant::now();
    let ops = Intervals::default();
    let sends = Intervals::default();
    let op_log = ops.clone();
    let op = move |i: usize| {
        let log = op_log.clone();
        async move {
            let began = start.elapsed();
            sleep(WORK).await;
            log.lock().unwrap().push((began, start.elapsed()));
            Ok::<_, Infallible>(i)
        }
    };
    let send_log = sends.clone();
    let sink = sink::from_fn(move |_: usize| {
        let log = send_log.clone();
        async move {
            let began = start.elapsed();
            sleep(SINK).await;
            log.lock().unwrap().push((began, start.elapsed()));
            Ok::<_, Infallible>(())
        }
    });
    let report = Pipeline::from_iter(0..N)
        .fan_out("op", config, op)
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .expect("runs");
    assert_eq!(report.delivered(), N as u64);

    let ops = ops.lock().unwrap().clone();
    let sends = sends.lock().unwrap().clone();
    assert_eq!((ops.len(), sends.len()), (N, N));
    let (first_send, first_send_end) = sends[0];
    assert_eq!(first_send, WORK, "the sink starts as soon as the first item is done");
    // While the sink awaited its first item, the workers ran, all of them at once ...
    assert_eq!(max_overlap_within(&ops, first_send, first_send_end), WORKERS);
    // ... and finished every other item: 29 items of 10 ms on 3 workers fit in 100 ms.
    let last_op_end = ops.iter().map(|&(_, e)| e).max().expect("ops ran");
    assert!(
        last_op_end <= first_send_end,
        "ops ended at {last_op_end:?}, the first send at {first_send_end:?}"
    );
    // So the run takes the sink's time only.
    assert_eq!(start.elapsed(), WORK + SINK * N as u32);
}

#[tokio::test(start_paused = true)]
async fn operations_run_concurrently_while_the_sink_awaits() {
    slow_sink_run(FanOut::workers(WORKERS).capacity(N)).await;
}

#[tokio::test(start_paused = true)]
async fn ordered_operations_run_concurrently_while_the_sink_awaits() {
    slow_sink_run(FanOut::workers(WORKERS).capacity(N).ordered()).await;
}
