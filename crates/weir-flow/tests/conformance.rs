//! The conformance suite (weir-testkit) on a fan-out whose operation is
//! guarded by a breaker, and on a guarded sink: every promise holds while
//! the breaker opens, waits out its cool-down and probes (the operation
//! fails often enough to open it).

use std::time::Duration;

use weir_core::Pipeline;
use weir_fanout::{FanOut, FanOutExt};
use weir_flow::{Breaker, BreakerExt, BreakerSinkExt};
use weir_retry::{RetryExt, RetryPolicy};
use weir_testkit::FlakySink;
use weir_testkit::conformance::{self, Passed};

#[derive(Debug, thiserror::Error)]
#[error("{0} is refused")]
struct Refused(u32);

/// Refuses two items in five: enough to open a breaker of one in three.
async fn work(x: u32) -> Result<u32, Refused> {
    tokio::time::sleep(Duration::from_millis(u64::from(x % 3))).await;
    if x % 5 < 2 { Err(Refused(x)) } else { Ok(x) }
}

fn breaker() -> Breaker {
    Breaker::new().min_calls(3).failure_rate(0.3).cool_down(Duration::from_millis(20))
}

#[test]
fn a_fan_out_guarded_by_a_breaker_keeps_every_promise() {
    let build = |p: Pipeline<u32>| {
        let op =
            work.retry(RetryPolicy::constant(Duration::from_millis(2)).max_attempts(2)).breaker(breaker());
        p.fan_out("guarded", FanOut::workers(3).capacity(4), op).discard_failures()
    };
    let passed: Passed = conformance::segment("guarded", build).items(0..40u32).bound(7).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}

#[test]
fn a_sink_guarded_by_a_breaker_keeps_every_promise() {
    // Fails every other send: the breaker opens, probes, closes; the retry
    // layer outside it stores every item in the end.
    let make = || {
        let guarded = FlakySink::<u32>::failing_when(|n| n % 2 == 0).breaker(breaker());
        weir_retry::RetrySinkExt::retry(guarded, RetryPolicy::constant(Duration::from_millis(1)))
    };
    let passed = conformance::sink("guarded-sink", make).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}

#[test]
fn a_throttle_keeps_every_promise() {
    use weir_flow::{Limit, Rate, RateLimitExt};
    let build = |p: Pipeline<u32>| {
        p.throttle("throttle", Limit::new(Rate::per_second(500).burst(2)).per_key(|x: &u32| x % 3))
    };
    let passed: Passed = conformance::segment("throttle", build).items(0..40u32).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}

#[test]
fn an_enforcing_rate_limit_keeps_every_promise() {
    use weir_flow::{Limit, Rate, RateLimitExt};
    let build = |p: Pipeline<u32>| {
        p.rate_limit("limit", Limit::new(Rate::per_second(200).burst(3)).cost(|x: &u32| x % 3))
            .discard_failures()
    };
    let passed: Passed = conformance::segment("limit", build).items(0..40u32).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}

#[test]
fn a_fan_out_under_an_adaptive_limit_keeps_every_promise() {
    use weir_flow::{Adaptive, AdaptiveExt};
    let build = |p: Pipeline<u32>| {
        p.fan_out("adaptive", FanOut::workers(4).capacity(4), work.adaptive(Adaptive::new().bounds(1, 4)))
            .discard_failures()
    };
    let passed: Passed = conformance::segment("adaptive", build).items(0..40u32).bound(8).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}

#[test]
fn a_sink_under_an_adaptive_limit_keeps_every_promise() {
    use weir_flow::{Adaptive, AdaptiveSinkExt};
    let make = || weir_core::sink::collect::<u32>().0.adaptive(Adaptive::new());
    let passed = conformance::sink("adaptive-sink", make).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}

#[test]
fn the_flow_timeouts_keep_every_promise() {
    use weir_flow::FlowTimeoutExt;
    let build = |p: Pipeline<u32>| {
        p.on_idle("idle", Duration::from_millis(2), |_| ())
            .complete_within("within", Duration::from_secs(7_200))
    };
    let passed: Passed = conformance::segment("timeouts", build).items(0..40u32).assert();
    assert_eq!(passed.unreached(), [], "in {} cases", passed.cases());
}
