//! Graceful shutdown, drain deadlines, `run_until`, halting and sink errors,
//! all under paused time.

mod common;

use std::time::Duration;

use common::{Bad, Buffer, ms};
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};

/// Sleeps `d` per item, then passes it on.
fn slow(d: Duration) -> impl FnMut(u64) -> futures::future::BoxFuture<'static, u64> + Send {
    move |x| {
        Box::pin(async move {
            tokio::time::sleep(d).await;
            x
        })
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_the_item_in_flight() {
    let (sink, out) = sink::collect();
    let handle = Pipeline::from_iter(0u64..).then("slow", slow(ms(100))).sink(sink).spawn().unwrap();
    tokio::time::sleep(ms(250)).await;
    // 0 and 1 are delivered; 2 is inside `slow` until 300 ms.
    let live = handle.report();
    assert_eq!((live.delivered(), live.stage("slow").unwrap().in_flight), (2, 1));
    let start = Instant::now();
    let report = handle.shutdown().await.unwrap();
    assert_eq!(start.elapsed(), ms(50), "shutdown waited for the item in flight, no more");
    assert_eq!(out.take(), [0, 1, 2], "every item that left the source was delivered");
    assert_eq!(report.source_items(), 3, "no item was taken after the shutdown");
    assert_eq!(report.ending(), Ending::Drained);
    assert_eq!((report.in_flight(), report.abandoned()), (0, 0));
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_items_held_by_a_buffering_stage() {
    let (sink, out) = sink::collect();
    let handle = Pipeline::from_iter(0u64..)
        .stage(Buffer::new("buffer", 4))
        .then("slow", slow(ms(100)))
        .sink(sink)
        .spawn()
        .unwrap();
    tokio::time::sleep(ms(150)).await;
    let live = handle.report();
    assert!(live.stage("buffer").unwrap().in_flight >= 4, "the buffer is full:\n{live}");
    let report = handle.shutdown().await.unwrap();
    let taken = report.source_items();
    assert_eq!(out.take(), (0..taken).collect::<Vec<_>>());
    assert_eq!(report.delivered(), taken);
    assert_eq!(report.ending(), Ending::Drained);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn drain_deadline_aborts_and_names_the_stages_that_held_items() {
    let (sink, out) = sink::collect();
    let handle = Pipeline::from_iter(0u64..)
        .then("stuck", |x| async move {
            if x == 3 {
                std::future::pending::<()>().await;
            }
            x
        })
        .batch("group", 10, Duration::from_secs(3600))
        .sink(sink)
        .drain_timeout(Duration::from_secs(1))
        .spawn()
        .unwrap();
    tokio::time::sleep(ms(250)).await;
    let start = Instant::now();
    let report = handle.shutdown().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1), "aborted exactly at the drain deadline");
    assert_eq!(report.ending(), Ending::Aborted);
    assert!(out.is_empty());
    assert_eq!(report.stage("stuck").unwrap().in_flight, 1, "{report}");
    assert_eq!(report.stage("group").unwrap().in_flight, 3, "{report}");
    assert_eq!(report.abandoned(), 4);
    assert_eq!(report.delivered(), 0);
    assert!(report.is_conserved(), "{report}");
    assert!(report.to_string().contains("abandoned 4"), "{report}");
}

#[tokio::test(start_paused = true)]
async fn abort_abandons_everything_in_flight_at_once() {
    let handle = Pipeline::from_iter(0u64..)
        .stage(Buffer::new("buffer", 2))
        .then("slow", slow(ms(100)))
        .sink(sink::drain())
        .spawn()
        .unwrap();
    tokio::time::sleep(ms(50)).await;
    let start = Instant::now();
    let report = handle.abort().await.unwrap();
    assert_eq!(start.elapsed(), ms(0));
    assert_eq!(report.ending(), Ending::Aborted);
    assert_eq!(report.stage("slow").unwrap().in_flight, 1);
    assert!(report.stage("buffer").unwrap().in_flight >= 2, "{report}");
    assert_eq!(report.abandoned(), report.source_items());
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn run_until_stops_intake_on_the_signal_and_drains() {
    let start = Instant::now();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0u64..)
        .then("slow", slow(ms(10)))
        .sink(sink)
        .run_until(tokio::time::sleep(ms(55)))
        .await
        .unwrap();
    // Items finish at 10, 20, ..., 60: the 6th was in flight at 55 and drained.
    assert_eq!(out.take(), [0, 1, 2, 3, 4, 5]);
    assert_eq!(start.elapsed(), ms(60));
    assert_eq!(report.ending(), Ending::Drained);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn run_until_a_signal_that_never_fires_completes_with_the_source() {
    let report =
        Pipeline::from_iter(0..3).sink(sink::drain()).run_until(std::future::pending()).await.unwrap();
    assert_eq!(report.ending(), Ending::Completed);
    assert_eq!(report.delivered(), 3);
}

#[tokio::test(start_paused = true)]
async fn halt_on_error_drains_then_returns_the_failure_with_its_item() {
    let (sink, out) = sink::collect();
    let err = Pipeline::from_iter(0u64..10)
        .try_map("check", |x| if x == 3 { Err(Bad(x)) } else { Ok(x) })
        .halt_on_error()
        .batch("group", 10, Duration::from_secs(3600))
        .sink(sink)
        .run()
        .await
        .unwrap_err();
    let RunError::Halted { failures, report } = err else { panic!("expected Halted, got {err:?}") };
    // 0, 1, 2 were in the batch when 3 failed: the drain flushed them.
    assert_eq!(out.take(), [vec![0, 1, 2]]);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].stage(), "check");
    assert_eq!(failures[0].message(), "item 3 is bad");
    assert_eq!(failures.into_iter().next().unwrap().into_item::<u64>().unwrap(), 3);
    assert_eq!(report.ending(), Ending::Halted);
    assert_eq!(report.source_items(), 4, "intake stopped at the failure");
    assert_eq!((report.delivered(), report.returned()), (3, 1));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn halt_on_error_returns_every_failure_met_while_draining() {
    // The slow stage lets the buffer fill up: it holds items 4.. when 3
    // fails. They drain after the halt, and the odd ones fail too.
    let err = Pipeline::from_iter(0u64..100)
        .stage(Buffer::new("buffer", 4))
        .try_map("odd", |x| if x % 2 == 1 && x >= 3 { Err(Bad(x)) } else { Ok(x) })
        .halt_on_error()
        .then("slow", slow(ms(10)))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Halted { failures, report } = err else { panic!("expected Halted, got {err:?}") };
    let taken = report.source_items();
    assert!(taken < 100, "intake stopped");
    let failed: Vec<u64> = failures.into_iter().map(|f| f.into_item::<u64>().unwrap()).collect();
    let expected: Vec<u64> = (3..taken).filter(|x| x % 2 == 1).collect();
    assert_eq!(failed, expected);
    assert!(failed.len() > 1, "items in flight drained through the failing stage: {failed:?}\n{report}");
    assert_eq!(report.returned(), failed.len() as u64);
    assert_eq!(report.delivered() + report.returned(), taken);
    assert!(report.is_conserved(), "{report}");
}

/// A sink that takes items until `fail_at`, then fails and gives it back.
struct FailAt {
    fail_at: u64,
    fail_flush: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the disk is full")]
struct DiskFull;

impl Sink<u64> for FailAt {
    type Error = DiskFull;

    async fn send(&mut self, item: u64) -> Result<(), SinkError<u64, DiskFull>> {
        if item == self.fail_at { Err(SinkError::with_item(DiskFull, item)) } else { Ok(()) }
    }

    async fn flush(&mut self) -> Result<(), DiskFull> {
        if self.fail_flush { Err(DiskFull) } else { Ok(()) }
    }
}

#[tokio::test(start_paused = true)]
async fn sink_error_returns_the_item_and_abandons_the_rest() {
    let err = Pipeline::from_iter(0u64..100)
        .stage(Buffer::new("buffer", 4))
        .sink(FailAt { fail_at: 5, fail_flush: false })
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "stage `sink` failed: the disk is full; 1 item(s) could not be stored");
    let RunError::Sink { stage, item, returned, report, .. } = err else {
        panic!("expected Sink, got {err:?}")
    };
    assert_eq!(stage, "sink");
    assert_eq!(returned, 1);
    assert_eq!(*item.unwrap().downcast::<u64>().unwrap(), 5);
    assert_eq!(report.delivered(), 5, "items before the failure were flushed");
    assert_eq!(report.returned(), 1);
    assert_eq!(report.ending(), Ending::Aborted);
    assert!(report.abandoned() > 0, "the buffer still held items:\n{report}");
    assert_eq!(report.delivered() + report.returned() + report.abandoned(), report.source_items());
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn failed_flush_returns_every_unflushed_item() {
    let err = Pipeline::from_iter(0u64..3)
        .sink(FailAt { fail_at: u64::MAX, fail_flush: true })
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { returned, item, report, .. } = err else { panic!("expected Sink, got {err:?}") };
    assert_eq!(returned, 3);
    assert!(item.is_none());
    assert_eq!((report.delivered(), report.returned()), (0, 3));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn join_waits_for_the_source_to_end() {
    let handle = Pipeline::from_iter(0u64..4).then("slow", slow(ms(10))).sink(sink::drain()).spawn().unwrap();
    let report = handle.join().await.unwrap();
    assert_eq!(report.ending(), Ending::Completed);
    assert_eq!(report.delivered(), 4);
    assert_eq!(report.wall_time(), ms(40));
}

#[tokio::test(start_paused = true)]
async fn a_sink_error_while_draining_a_halt_keeps_the_halted_failures() {
    // 3 fails and halts the run; the drain flushes [0, 1, 2] into a sink
    // that fails. Both the sink's items and the halted failure are returned
    // to the caller: none may be dropped.
    let err = Pipeline::from_iter(0u64..10)
        .try_map("check", |x| if x == 3 { Err(Bad(x)) } else { Ok(x) })
        .halt_on_error()
        .map("sum", |x| x)
        .sink(FailAt { fail_at: 0, fail_flush: false })
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { returned, halted, report, .. } = err else { panic!("expected Sink, got {err:?}") };
    assert_eq!(returned, 1);
    assert_eq!(report.returned(), 1, "{report}");
    assert!(halted.is_empty());

    let err = Pipeline::from_iter(0u64..10)
        .try_map("check", |x| if x == 3 { Err(Bad(x)) } else { Ok(x) })
        .halt_on_error()
        .batch("group", 10, Duration::from_secs(3600))
        .sink(sink::from_fn(|_: Vec<u64>| async { Err(DiskFull) }))
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { returned, halted, report, .. } = err else { panic!("expected Sink, got {err:?}") };
    assert_eq!(returned, 4, "the batch [0, 1, 2] and the halted 3: what the report counts");
    assert_eq!(halted.len(), 1, "the halted failure is returned too");
    assert_eq!(halted.into_iter().next().unwrap().into_item::<u64>().unwrap(), 3);
    assert_eq!(report.returned(), 4);
    assert!(report.is_conserved(), "{report}");
}

/// A source and a sink that are always ready, on the current-thread
/// runtime the caller is on: the run must give the thread back, so that
/// the caller's timer fires and its shutdown (or the drain timeout) ends
/// the run. Before the run yielded, both hung for ever.
#[tokio::test(flavor = "current_thread")]
async fn a_run_that_always_has_work_still_lets_its_caller_shut_it_down() {
    // The runtime's own timers cannot fire if the run never yields: a
    // thread of its own fails the test instead of letting it hang.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(60)).is_err() {
            eprintln!("the run never gave its thread back: the caller could not shut it down");
            std::process::exit(1);
        }
    });
    let handle = Pipeline::from_iter(0u64..).sink(sink::drain()).spawn().expect("valid");
    tokio::time::timeout(Duration::from_secs(5), tokio::time::sleep(Duration::from_millis(20)))
        .await
        .expect("the caller's timer fired while the run was busy");
    let report = tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("the shutdown was seen")
        .expect("drains");
    assert_eq!(report.ending(), Ending::Drained);
    assert!(report.delivered() > 0);
    assert!(report.is_conserved(), "{report}");
    let _ = done.send(());
}
