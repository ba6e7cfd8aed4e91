//! The fault-injecting operation: each fault does what it says, counted
//! from outside, on a paused clock.

use std::time::Duration;

use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_testkit::faults::{Fault, FaultyOp, Injected, run_paused};
use weir_testkit::{AckingSource, assert_conserved};

#[test]
fn each_fault_does_what_it_says() {
    let op = FaultyOp::new(|x: &u32, _| match x {
        0 => Fault::Fail,
        1 => Fault::Panic,
        2 => Fault::Delay(Duration::from_secs(5)),
        _ => Fault::Pass,
    });
    let calls = op.calls();
    let (sink, out) = sink::collect();
    let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = failures.clone();
    let started = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (report, elapsed) = run_paused(async {
        *started.lock().unwrap() = Some(Instant::now());
        let report = Pipeline::from_iter(0..5u32)
            .fan_out("op", FanOut::workers(1).ordered(), op)
            .inspect_failures(move |f| seen.lock().unwrap().push((*f.item(), f.cause().to_string())))
            .discard_failures()
            .sink(sink)
            .await
            .unwrap();
        (report, started.lock().unwrap().unwrap().elapsed())
    });
    assert_eq!(out.take(), [2, 3, 4]);
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0], (0, "fault injected on call #0".to_owned()));
    assert!(failures[1].0 == 1 && failures[1].1.contains("fault injected: panic on call #1"), "{failures:?}");
    assert_eq!(report.discarded(), 2, "{report}");
    assert_eq!(calls.get(), 5);
    assert_eq!(elapsed, Duration::from_secs(5), "the delay is virtual time");
    assert_conserved(&report);
}

#[test]
fn the_error_names_the_call() {
    let op = FaultyOp::<u8>::cycling(vec![Fault::Pass, Fault::Fail]);
    let mut seen = Vec::new();
    for x in 0..4 {
        seen.push(run_paused(weir_core::Operation::apply(&op, x)).map_err(|Injected { call }| call));
    }
    assert_eq!(seen, [Ok(0), Err(1), Ok(2), Err(3)]);
}

#[test]
fn a_hang_holds_its_item_until_the_drain_deadline_abandons_it() {
    let source = AckingSource::new(0..4u32);
    let acks = source.log();
    let op = FaultyOp::new(|x: &u32, _| if *x == 1 { Fault::Hang } else { Fault::Pass });
    let report = run_paused(async {
        let handle = Pipeline::from_acked(source)
            .fan_out("op", FanOut::workers(2), op)
            .discard_failures()
            .sink(sink::drain())
            .drain_timeout(Duration::from_secs(2))
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        handle.shutdown().await.unwrap()
    });
    assert_eq!(report.ending(), Ending::Aborted);
    assert_eq!((report.delivered(), report.abandoned()), (3, 1), "{report}");
    assert_eq!(acks.fired_sorted(), [0, 2, 3], "the hung item is never acknowledged");
    assert_conserved(&report);
}
