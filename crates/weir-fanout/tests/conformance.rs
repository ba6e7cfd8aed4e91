//! The conformance suite (weir-testkit) on every fan-out mode (slow
//! items, failures and panics per item, every ending the suite
//! generates), on a fan-out whose operation retries, and on a retrying
//! sink. Bound while stalled: the stage's capacity plus one item per
//! worker.

use std::time::Duration;

use weir_core::Pipeline;
use weir_fanout::{FanOut, FanOutExt, Lent};
use weir_retry::{RetryExt, RetryPolicy, RetrySinkExt};
use weir_testkit::FlakySink;
use weir_testkit::conformance::{self, Passed, Suite};

#[derive(Debug, thiserror::Error)]
#[error("{0} is refused")]
struct Refused(u32);

/// Waits up to 3 ms; refuses multiples of 5, panics on 7s.
async fn work(x: u32) -> Result<u32, Refused> {
    tokio::time::sleep(Duration::from_millis(u64::from(x % 4))).await;
    match x % 10 {
        5 => Err(Refused(x)),
        7 => panic!("{x} is poison to the operation"),
        _ => Ok(x),
    }
}

const WORKERS: usize = 3;
const CAPACITY: usize = 4;

fn config() -> FanOut {
    FanOut::workers(WORKERS).capacity(CAPACITY)
}

fn checked(suite: Suite<u32>) {
    let passed: Passed = suite.items(0..40u32).bound((CAPACITY + WORKERS) as u64).assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}

#[test]
fn unordered() {
    checked(conformance::segment("fan-out", |p: Pipeline<u32>| {
        p.fan_out("fan-out", config(), work).discard_failures()
    }));
}

#[test]
fn ordered() {
    checked(conformance::segment("fan-out", |p: Pipeline<u32>| {
        p.fan_out("fan-out", config().ordered(), work).discard_failures()
    }));
}

#[test]
fn keyed() {
    checked(conformance::segment("fan-out", |p: Pipeline<u32>| {
        p.fan_out_keyed("fan-out", config(), |x: &u32| x % 3, work).discard_failures()
    }));
}

#[test]
fn one_operation_per_worker() {
    checked(conformance::segment("fan-out", |p: Pipeline<u32>| {
        p.fan_out_with("fan-out", config(), |_| work).discard_failures()
    }));
}

#[test]
fn lent() {
    checked(conformance::segment("fan-out", |p: Pipeline<u32>| {
        p.fan_out_lent("fan-out", config(), |x: Lent<u32>| work(*x)).discard_failures()
    }));
}

#[test]
fn broadcast() {
    let passed = conformance::segment("broadcast", |p: Pipeline<u32>| {
        p.broadcast("broadcast", CAPACITY, vec![work, work]).discard_failures()
    })
    .items(0..40u32)
    .bound(CAPACITY as u64)
    .assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}

fn policy() -> RetryPolicy {
    RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3)
}

#[test]
fn a_retrying_sink_keeps_every_promise() {
    // Every third send fails; the retry layer sends it again.
    let passed =
        conformance::sink::<u32, _, _>("store", || FlakySink::failing_when(|n| n % 3 == 1).retry(policy()))
            .items(0..40u32)
            .assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}

#[derive(Debug, thiserror::Error)]
#[error("{0} failed this time")]
struct Transient(u32);

#[test]
fn a_fan_out_that_retries_keeps_every_promise() {
    // Items divisible by 4 fail every attempt (3, then failed for good);
    // their retries are parked, counted against the capacity.
    let op = |x: u32| async move { if x.is_multiple_of(4) { Err(Transient(x)) } else { Ok(x) } };
    let passed = conformance::segment("fan-out", move |p: Pipeline<u32>| {
        p.fan_out("fan-out", FanOut::workers(2).capacity(4), op.retry(policy())).discard_failures()
    })
    .items(0..40u32)
    .bound(6)
    .assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
