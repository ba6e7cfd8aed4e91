//! A run's error counts what the report counts: every item returned in
//! the error, whichever way it was returned.

use std::time::Duration;

use weir_core::ErasedFailure;
use weir_core::prelude::*;
use weir_core::sink;

#[derive(Debug, thiserror::Error)]
#[error("bad item {0}")]
struct Bad(u32);

#[derive(Debug, thiserror::Error)]
#[error("the disk is full")]
struct DiskFull;

#[tokio::test(start_paused = true)]
async fn a_sink_errors_returned_count_includes_the_failures_halted_before_it() {
    // The buffer runs ahead: item 5 halts the run while the sink is still
    // busy with item 0, which it then fails to store.
    let slow_full_disk = sink::from_fn(|_: u32| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err::<(), _>(DiskFull)
    });
    let err = Pipeline::from_iter(0..10u32)
        .try_map("check", |x| if x == 5 { Err(Bad(x)) } else { Ok(x) })
        .halt_on_error()
        .buffer("queue", 16)
        .sink(slow_full_disk)
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { returned, halted, report, .. } = err else { panic!("{err:?}") };
    assert_eq!(halted.len(), 1, "item 5 halted the run");
    assert_eq!(report.returned(), 2, "item 5, halted, and item 0, refused by the sink");
    assert_eq!(returned, report.returned(), "the error counts what the report counts");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_halted_runs_failures_count_what_the_report_returned() {
    let err = Pipeline::from_iter(0..20u32)
        .batch("group", 4, Duration::from_millis(5))
        .try_map("check", |b: Vec<u32>| if b.contains(&5) { Err(Bad(5)) } else { Ok(b) })
        .halt_on_error()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Halted { failures, report } = err else { panic!("{err:?}") };
    let counted: u64 = failures.iter().map(ErasedFailure::count).sum();
    assert_eq!(counted, 4, "the batch holding 5 stands for 4 source items");
    assert_eq!(counted, report.returned());
    assert!(report.is_conserved(), "{report}");
}
