//! A report taken at any moment of a run, from another thread while items
//! move between stages on every core, never counts an item twice: its
//! conservation line holds exactly (items in flight included), and
//! nothing counts more items than the source gave.

use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;

fn accounted(report: &Report) -> u64 {
    report.delivered()
        + report.dead_lettered()
        + report.filtered()
        + report.discarded()
        + report.returned()
        + report.abandoned()
        + report.in_flight()
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is refused")]
struct Refused(u64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_report_counts_each_item_once() {
    let handle = Pipeline::from_iter(0..400_000u64)
        .map("double", |x| x * 2)
        .buffer("queue", 64)
        .filter("most", |x| !x.is_multiple_of(7))
        .try_map("check", |x| if x.is_multiple_of(11) { Err(Refused(x)) } else { Ok(x) })
        .discard_failures()
        .buffer("queue-2", 16)
        .batch("batch", 32, Duration::from_millis(1))
        .sink(sink::drain())
        .spawn()
        .unwrap();
    let mut snapshots = 0;
    let mut moving = 0;
    while !handle.is_finished() {
        let report = handle.report();
        snapshots += 1;
        if report.in_flight() > 0 {
            moving += 1;
        }
        // A stage never ends more items than it received (the snapshot of
        // the old order did: the sink delivered what its upstream had not
        // yet been read to emit).
        for stage in report.stages() {
            let ended =
                stage.emitted + stage.filtered + stage.discarded + stage.dead_lettered() + stage.delivered;
            assert!(ended <= stage.received, "`{}` ended more than it received\n{report}", stage.name);
        }
        assert_eq!(
            accounted(&report),
            report.source_items(),
            "snapshot {snapshots}: every item counted once, in flight or ended\n{report}"
        );
        tokio::task::yield_now().await;
    }
    let report = handle.shutdown().await.unwrap();
    assert!(report.is_conserved(), "{report}");
    assert!(moving > 10, "the snapshots caught items moving ({moving} of {snapshots})");
}
