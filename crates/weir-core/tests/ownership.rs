//! Ownership: dropping the run future or the handle stops every task and
//! every operation of the pipeline. No zombies.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Buffer, ms};
use weir_core::prelude::*;
use weir_core::sink;

/// What a pipeline under test leaves observable after it is dropped.
struct Probes {
    /// Held (cloned) by the source and by every pending `then` future.
    alive: Arc<()>,
    /// Counts the loop iterations of the buffer's spawned task.
    ticks: Arc<AtomicU64>,
    /// Counts the items the source produced.
    produced: Arc<AtomicU64>,
}

/// An endless source (1 item/ms), a task-backed buffer, and a `then` that
/// takes 5 ms per item: the buffer's task keeps running as long as the
/// pipeline lives.
fn pipeline() -> (Runnable, Probes) {
    let alive = Arc::new(());
    let produced = Arc::new(AtomicU64::new(0));
    let buffer = Buffer::new("buffer", 2);
    let probes = Probes { alive: alive.clone(), ticks: buffer.ticks.clone(), produced: produced.clone() };
    let source_guard = alive.clone();
    let counter = produced.clone();
    let source = futures::stream::unfold(0u64, move |i| {
        let _held_by_the_source = &source_guard;
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(ms(1)).await;
            Some((i, i + 1))
        }
    });
    let runnable = Pipeline::new(source)
        .stage(buffer)
        .then("op", move |x| {
            let guard = alive.clone();
            async move {
                let _held_by_the_operation = guard;
                tokio::time::sleep(ms(5)).await;
                x
            }
        })
        .sink(sink::drain());
    (runnable, probes)
}

/// Checks that the pipeline makes progress.
async fn assert_running(probes: &Probes) {
    let ticks = probes.ticks.load(Ordering::SeqCst);
    tokio::time::sleep(ms(50)).await;
    assert!(probes.ticks.load(Ordering::SeqCst) > ticks, "the buffer's task runs");
    assert!(Arc::strong_count(&probes.alive) > 2, "the source and an operation are alive");
}

async fn assert_nothing_runs(probes: Probes) {
    // Let the runtime drop aborted tasks.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(Arc::strong_count(&probes.alive), 1, "no source, stage or operation future is alive");
    let ticks = probes.ticks.load(Ordering::SeqCst);
    let produced = probes.produced.load(Ordering::SeqCst);
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(probes.ticks.load(Ordering::SeqCst), ticks, "the buffer's task stopped");
    assert_eq!(probes.produced.load(Ordering::SeqCst), produced, "the source is not polled any more");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_future_stops_everything() {
    let (runnable, probes) = pipeline();
    let mut run = Box::pin(runnable.run());
    tokio::select! {
        _ = &mut run => panic!("an endless pipeline ended"),
        () = assert_running(&probes) => {}
    }
    drop(run);
    assert_nothing_runs(probes).await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_everything() {
    let (runnable, probes) = pipeline();
    let handle = runnable.spawn().unwrap();
    assert_running(&probes).await;
    assert!(!handle.is_finished());
    drop(handle);
    assert_nothing_runs(probes).await;
}

#[test]
fn dropping_the_handle_on_a_multi_thread_runtime_stops_everything() {
    // Same proof on a runtime whose tasks run on other threads.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    let (ticks, alive) = rt.block_on(async {
        let (runnable, probes) = pipeline();
        let handle = runnable.spawn().unwrap();
        while probes.ticks.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(ms(1)).await;
        }
        drop(handle);
        (probes.ticks, probes.alive)
    });
    // Shutting the runtime down drops every task it still has; before that,
    // the aborts must already have taken effect.
    rt.block_on(async {
        for _ in 0..200 {
            if Arc::strong_count(&alive) == 1 {
                break;
            }
            tokio::time::sleep(ms(1)).await;
        }
    });
    assert_eq!(Arc::strong_count(&alive), 1, "nothing of the pipeline is alive");
    let before = ticks.load(Ordering::SeqCst);
    rt.block_on(async { tokio::time::sleep(ms(5)).await });
    assert_eq!(ticks.load(Ordering::SeqCst), before);
    drop(rt);
}
