//! Panics in keyed and broadcast modes fail their item only; a retry budget
//! shared by a fan-out's items bounds retries while a dependency is down.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_retry::{RetryBudget, RetryExt, RetryPolicy};

#[derive(Debug, thiserror::Error)]
#[error("dependency down")]
struct Down;

fn silence_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let expected = info.payload().downcast_ref::<&str>().is_some_and(|m| m.starts_with("expected"));
        if !expected {
            default(info);
        }
    }));
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_keyed_mode_fails_its_item_and_its_key_goes_on() {
    silence_expected_panics();
    let (sink, out) = sink::collect();
    let (failed, failures) = sink::collect();
    let mut failed = Some(failed);
    let report = Pipeline::from_iter((0..30u32).map(|i| (i % 3, i)))
        .fan_out_keyed(
            "keyed",
            FanOut::workers(2),
            |(key, _): &(u32, u32)| *key,
            |(key, i): (u32, u32)| async move {
                if i == 4 {
                    panic!("expected panic at 4");
                }
                Ok::<_, Infallible>((key, i))
            },
        )
        .route_failures(move |failure, _| {
            let mut sink = failed.take();
            let item = *failure.item();
            let message = failure.cause().panic_message().map(str::to_owned);
            failure.settle(Settled::Discarded);
            async move {
                if let Some(sink) = sink.as_mut() {
                    let _ = sink.send((item, message)).await;
                }
            }
        })
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(failures.take(), [((1, 4), Some("expected panic at 4".to_owned()))]);
    let out = out.take();
    let key1: Vec<u32> = out.iter().filter(|(k, _)| *k == 1).map(|(_, i)| *i).collect();
    assert_eq!(key1, [1, 7, 10, 13, 16, 19, 22, 25, 28], "key 1 goes on, in order, after its panic");
    assert_eq!((report.delivered(), report.discarded()), (29, 1));
    assert_eq!(report.stage("keyed").unwrap().panicked, 1);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_one_broadcast_consumer_fails_the_item_for_all() {
    silence_expected_panics();
    let consumer = |fragile: bool| {
        move |x: u32| async move {
            if fragile && x == 2 {
                panic!("expected panic at 2");
            }
            Ok::<_, Infallible>(x)
        }
    };
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..5u32)
        .broadcast("copies", 4, vec![consumer(false), consumer(true)])
        .discard_failures()
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), [vec![0, 0], vec![1, 1], vec![3, 3], vec![4, 4]]);
    assert_eq!((report.delivered(), report.discarded()), (4, 1));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_shared_retry_budget_bounds_the_retries_of_a_fan_out_while_a_dependency_is_down() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let down = move |_: u32| {
        counter.fetch_add(1, SeqCst);
        std::future::ready(Err::<u32, _>(Down))
    };
    // At most 10 % of first attempts (no floor) may be retried.
    let budget = RetryBudget::new(0.1, Duration::from_secs(60), 0);
    let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(5).budget(budget);
    let items = 200u32;
    let report = Pipeline::from_iter(0..items)
        .fan_out("call", FanOut::workers(4).capacity(32), down.retry(policy))
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let retries = report.stage("call").unwrap().retries;
    assert!(retries <= u64::from(items) / 10, "{retries} retries for {items} first attempts");
    assert!(retries > 0, "the budget allows some retries");
    assert_eq!(u64::from(calls.load(SeqCst)), u64::from(items) + retries);
    assert_eq!(report.discarded(), u64::from(items));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_hung_operation_times_out_and_frees_its_worker() {
    use weir_retry::{AttemptError, TimeoutExt};
    let start = tokio::time::Instant::now();
    let lookup = |x: u32| async move {
        if x == 0 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, Infallible>(x)
    };
    let (sink, out) = sink::collect();
    let timed_out = Arc::new(AtomicU32::new(0));
    let count = timed_out.clone();
    let report = Pipeline::from_iter(0..10u32)
        .fan_out("lookup", FanOut::workers(1), lookup.timeout(Duration::from_millis(100)))
        .route_failures(move |failure: Failure<u32, AttemptError<Infallible>>, _| {
            if matches!(failure.cause().error(), Some(AttemptError::TimedOut(_))) {
                count.fetch_add(1, SeqCst);
            }
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(timed_out.load(SeqCst), 1);
    assert_eq!(out.take(), (1..10).collect::<Vec<_>>());
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 9 * 10), "one worker: the timeout, then 9 items");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn keyed_mode_honours_ordered() {
    // Later items finish first (delays shrink), so completion order differs
    // from input order; `.ordered()` must restore input order.
    let (sink, out) = sink::collect();
    Pipeline::from_iter(0..12u32)
        .fan_out_keyed(
            "keyed",
            FanOut::workers(3).ordered(),
            |x: &u32| x % 4,
            |x: u32| async move {
                tokio::time::sleep(Duration::from_millis(u64::from(12 - x))).await;
                Ok::<_, Infallible>(x)
            },
        )
        .discard_failures()
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take(), (0..12).collect::<Vec<_>>());
}
