//! A report taken at any moment, from another thread, while a fan-out's
//! workers and a dead-letter writer count on other cores: each item is
//! counted once, in flight or ended.

use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;
use weir_deadletter::{DeadLetter, DeadLetterExt};
use weir_fanout::{FanOut, FanOutExt};

#[derive(Debug, thiserror::Error)]
#[error("{0} is refused")]
struct Refused(u64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_report_counts_each_item_once_across_workers_and_writers() {
    let store = sink::from_fn(|_: DeadLetter<u64>| async { Ok::<_, std::convert::Infallible>(()) });
    let work = |x: u64| async move {
        if x.is_multiple_of(13) {
            tokio::task::yield_now().await;
        }
        if x.is_multiple_of(17) { Err(Refused(x)) } else { Ok(x) }
    };
    let handle = Pipeline::from_iter(0..300_000u64)
        .try_map("check", |x| if x.is_multiple_of(11) { Err(Refused(x)) } else { Ok(x) })
        .dead_letter(store)
        .fan_out("work", FanOut::workers(3).capacity(256), work)
        .discard_failures()
        .batch("batch", 50, Duration::from_millis(1))
        .sink(sink::drain())
        .spawn()
        .unwrap();
    let (mut snapshots, mut moving) = (0u64, 0u64);
    while !handle.is_finished() {
        let report = handle.report();
        snapshots += 1;
        moving += u64::from(report.in_flight() > 0);
        let accounted = report.delivered()
            + report.dead_lettered()
            + report.filtered()
            + report.discarded()
            + report.returned()
            + report.in_flight();
        assert_eq!(
            accounted,
            report.source_items(),
            "snapshot {snapshots}: every item counted once\n{report}"
        );
        assert!(report.is_conserved(), "snapshot {snapshots}\n{report}");
        tokio::task::yield_now().await;
    }
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved(), "{report}");
    assert!(report.dead_lettered() > 0 && report.discarded() > 0, "{report}");
    assert!(moving > 10, "the snapshots caught items moving ({moving} of {snapshots})");
}
