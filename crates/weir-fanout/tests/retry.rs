//! Retries don't hold a worker (issue 4, item 3): an item waiting for its
//! backoff is parked on a timer and its worker serves other items
//! meanwhile; ordered mode still delivers in input order; in keyed mode only
//! the failing item's key waits; parked items count against the capacity;
//! the report counts retries and exhausted items keep their last error.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};
use weir_fanout::{FanOut, FanOutExt};
use weir_retry::{RetryExt, RetryPolicy, TimeoutExt};
use weir_testkit::assert_conserved;

const SECOND: Duration = Duration::from_secs(1);
const ZERO: Duration = Duration::ZERO;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {item} failed on attempt {attempt}")]
struct Flaky {
    item: String,
    attempt: u32,
}

/// A timeline of events, in paused time since the test started.
type Timeline<T> = Arc<Mutex<Vec<(T, Duration)>>>;

/// An operation that fails the first `failures(item)` attempts of each item
/// and logs every attempt's start.
fn flaky<T>(
    start: Instant,
    failures: impl Fn(&T) -> u32 + Send + Sync + 'static,
    attempts: Timeline<T>,
) -> impl Fn(T) -> BoxFuture<'static, Result<T, Flaky>> + Send + Sync + 'static
where
    T: Debug + Clone + Eq + Hash + Send + 'static,
{
    let made: Arc<Mutex<HashMap<T, u32>>> = Arc::default();
    move |item: T| {
        attempts.lock().unwrap().push((item.clone(), start.elapsed()));
        let attempt = {
            let mut made = made.lock().unwrap();
            let n = made.entry(item.clone()).or_default();
            *n += 1;
            *n
        };
        let fails = attempt <= failures(&item);
        Box::pin(
            async move { if fails { Err(Flaky { item: format!("{item:?}"), attempt }) } else { Ok(item) } },
        )
    }
}

/// A sink that logs when each item arrives.
fn timed_sink<T: Send + 'static>(start: Instant, log: Timeline<T>) -> impl Sink<T> {
    sink::from_fn(move |item: T| {
        log.lock().unwrap().push((item, start.elapsed()));
        std::future::ready(Ok::<_, std::convert::Infallible>(()))
    })
}

fn constant_1s() -> weir_retry::RetryPolicy {
    RetryPolicy::constant(SECOND).max_attempts(3)
}

fn take<T: Clone>(log: &Timeline<T>) -> Vec<(T, Duration)> {
    log.lock().unwrap().clone()
}

/// One worker; A fails once (1 s backoff), B succeeds. Returns the
/// attempts, the deliveries and the report.
async fn a_then_b(config: FanOut) -> (Vec<(&'static str, Duration)>, Vec<(&'static str, Duration)>, Report) {
    let start = Instant::now();
    let (attempts, delivered) = (Timeline::default(), Timeline::default());
    let op = flaky(start, |item: &&str| u32::from(*item == "A"), attempts.clone());
    let report = Pipeline::from_iter(["A", "B"])
        .fan_out("op", config, op.retry(constant_1s()))
        .discard_failures()
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    assert_eq!(start.elapsed(), SECOND);
    assert_conserved(&report);
    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.retried, stage.retries, stage.failed), (1, 1, 0), "one item retried once, none failed");
    assert_eq!(report.delivered(), 2);
    (take(&attempts), take(&delivered), report)
}

#[tokio::test(start_paused = true)]
async fn one_worker_serves_b_while_a_waits_for_its_retry() {
    let (attempts, delivered, _) = a_then_b(FanOut::workers(1).capacity(4)).await;
    // B's only attempt came before A's retry: the worker was free.
    assert_eq!(attempts, [("A", ZERO), ("B", ZERO), ("A", SECOND)]);
    assert_eq!(delivered, [("B", ZERO), ("A", SECOND)]);
}

#[tokio::test(start_paused = true)]
async fn ordered_mode_serves_b_early_but_delivers_a_first() {
    let (attempts, delivered, _) = a_then_b(FanOut::workers(1).capacity(4).ordered()).await;
    assert_eq!(attempts, [("A", ZERO), ("B", ZERO), ("A", SECOND)]);
    assert_eq!(delivered, [("A", SECOND), ("B", SECOND)]);
}

#[tokio::test(start_paused = true)]
async fn parked_items_do_not_serialize_on_the_worker() {
    // Five items fail once on one worker: all five wait at the same time.
    let start = Instant::now();
    let (attempts, delivered) = (Timeline::default(), Timeline::default());
    let op = flaky(start, |i: &u32| u32::from(i.is_multiple_of(2)), attempts.clone());
    let report = Pipeline::from_iter(0..10u32)
        .fan_out("op", FanOut::workers(1).capacity(10), op.retry(constant_1s()))
        .discard_failures()
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    assert_eq!(start.elapsed(), SECOND, "five 1 s backoffs overlap");
    let delivered = take(&delivered);
    let at = |t| {
        let mut items: Vec<u32> = delivered.iter().filter(|(_, at)| *at == t).map(|(i, _)| *i).collect();
        items.sort_unstable();
        items
    };
    assert_eq!(at(ZERO), [1, 3, 5, 7, 9]);
    assert_eq!(at(SECOND), [0, 2, 4, 6, 8]);
    assert_eq!(take(&attempts).len(), 15);
    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.retried, stage.retries), (5, 5));
    assert_eq!(report.retries(), 5);
    assert_conserved(&report);
}

#[tokio::test(start_paused = true)]
async fn keyed_mode_holds_only_the_failing_key() {
    type Item = (u32, u32); // (key, n-th item of the key)
    let start = Instant::now();
    let (attempts, delivered) = (Timeline::default(), Timeline::default());
    // (0, 0) and (0, 1) fail once each; every other item succeeds at once.
    let op = flaky(start, |(key, n): &Item| u32::from(*key == 0 && *n < 2), attempts.clone());
    let items: Vec<Item> = vec![(0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (1, 1)];
    let report = Pipeline::from_iter(items)
        .fan_out_keyed("op", FanOut::workers(1).capacity(8), |(key, _): &Item| *key, op.retry(constant_1s()))
        .discard_failures()
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    // Other keys flow at t = 0 on the same worker; key 0 waits for its
    // retries, in order: (0, 1) is tried only after (0, 0) succeeded.
    assert_eq!(
        take(&delivered),
        [
            ((1, 0), ZERO),
            ((2, 0), ZERO),
            ((1, 1), ZERO),
            ((0, 0), SECOND),
            ((0, 1), 2 * SECOND),
            ((0, 2), 2 * SECOND)
        ]
    );
    let attempts_of = |item: Item| -> Vec<Duration> {
        take(&attempts).into_iter().filter(|(i, _)| *i == item).map(|(_, at)| at).collect()
    };
    assert_eq!(attempts_of((0, 0)), [ZERO, SECOND]);
    assert_eq!(attempts_of((0, 1)), [SECOND, 2 * SECOND]);
    assert_eq!(attempts_of((0, 2)), [2 * SECOND]);
    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.retried, stage.retries, stage.failed), (2, 2, 0));
    assert_conserved(&report);
}

#[tokio::test(start_paused = true)]
async fn a_parked_item_holds_its_capacity_slot() {
    let start = Instant::now();
    let (attempts, delivered, pulled) = (Timeline::default(), Timeline::default(), Timeline::default());
    let pull_log = pulled.clone();
    let source = futures::stream::iter(["A", "B", "C"])
        .inspect(move |item| pull_log.lock().unwrap().push((*item, start.elapsed())));
    let op = flaky(start, |item: &&str| u32::from(*item != "C"), attempts.clone());
    let report = Pipeline::new(source)
        .fan_out("op", FanOut::workers(1).capacity(1), op.retry(constant_1s()))
        .discard_failures()
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    // Capacity 1 plus 1 worker: the parked A and B fill the stage, so C is
    // not even pulled until they are delivered.
    assert_eq!(take(&pulled), [("A", ZERO), ("B", ZERO), ("C", SECOND)]);
    assert_eq!(take(&attempts), [("A", ZERO), ("B", ZERO), ("A", SECOND), ("B", SECOND), ("C", SECOND)]);
    assert_eq!(take(&delivered), [("A", SECOND), ("B", SECOND), ("C", SECOND)]);
    assert_conserved(&report);
}

#[tokio::test(start_paused = true)]
async fn exhausted_items_fail_with_max_attempts_and_the_last_error() {
    let start = Instant::now();
    let (attempts, delivered) = (Timeline::default(), Timeline::default());
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = failures.clone();
    let op = flaky(start, |i: &u32| if *i == 0 { u32::MAX } else { 0 }, attempts.clone());
    let policy = RetryPolicy::exponential(SECOND).max_attempts(3);
    let report = Pipeline::from_iter(0..4u32)
        .fan_out("op", FanOut::workers(1).capacity(4), op.retry(policy))
        .route_failures(move |failure: Failure<u32, Flaky>, _| {
            seen.lock().unwrap().push((
                *failure.item(),
                failure.attempts(),
                failure.cause().error().cloned(),
                failure.class(),
                failure.stage().to_owned(),
                start.elapsed(),
            ));
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    // Exponential backoff from the policy: 1 s, then 2 s.
    let of_0: Vec<Duration> =
        take(&attempts).into_iter().filter(|(i, _)| *i == 0).map(|(_, at)| at).collect();
    assert_eq!(of_0, [ZERO, SECOND, 3 * SECOND]);
    assert_eq!(take(&delivered), [(1, ZERO), (2, ZERO), (3, ZERO)]);
    let last = Flaky { item: "0".to_owned(), attempt: 3 };
    assert_eq!(
        *failures.lock().unwrap(),
        [(0, 3, Some(last), ErrorClass::Transient, "op".to_owned(), 3 * SECOND)]
    );
    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.retried, stage.retries, stage.failed, stage.discarded), (1, 2, 1, 1));
    assert_eq!(report.delivered(), 3);
    assert_conserved(&report);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_counts_from_each_items_own_first_attempt() {
    // One worker takes the four items in one hand-off and runs them one
    // after the other, 1 s each; each fails once. An item's time limit
    // starts when its own first attempt starts, not when the hand-off began.
    let start = Instant::now();
    let (attempts, delivered) = (Timeline::default(), Timeline::default());
    let fails_once = flaky(start, |_: &u32| 1, attempts.clone());
    let op = move |i: u32| {
        let attempt = fails_once(i);
        async move {
            tokio::time::sleep(SECOND).await;
            attempt.await
        }
    };
    let policy = RetryPolicy::constant(Duration::from_millis(100))
        .max_attempts(3)
        .max_elapsed(Duration::from_millis(1500));
    let report = Pipeline::from_iter(0..4u32)
        .fan_out("op", FanOut::workers(1).capacity(4), op.retry(policy))
        .discard_failures()
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    // Every first attempt failed 1 s after it started: 1.1 s <= 1.5 s, so each is retried.
    let firsts: Vec<Duration> = take(&attempts).into_iter().take(4).map(|(_, at)| at).collect();
    assert_eq!(firsts, [ZERO, SECOND, 2 * SECOND, 3 * SECOND], "one after the other");
    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.retried, stage.failed), (4, 0), "every item retried, none failed");
    assert_eq!(report.delivered(), 4);
    assert_conserved(&report);
}

/// `op.timeout(d).retry(policy)` in a fan-out: each attempt is timed out
/// on its own (the hung attempt frees its worker at the limit) and the
/// timeout is retried like any transient error.
#[tokio::test(start_paused = true)]
async fn each_attempt_times_out_on_its_own_and_is_retried() {
    let start = Instant::now();
    let (attempts, delivered) = (Timeline::default(), Timeline::default());
    let made: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let log = attempts.clone();
    // The first attempt of each item hangs; the second is quick.
    let op = move |item: u32| {
        log.lock().unwrap().push((item, start.elapsed()));
        let first = {
            let mut made = made.lock().unwrap();
            let n = made.entry(item).or_default();
            *n += 1;
            *n == 1
        };
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Ok::<_, std::convert::Infallible>(item)
        }
    };
    let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(2);
    let op = op.timeout(Duration::from_millis(100)).retry(policy);
    let report = Pipeline::from_iter([1u32, 2])
        .fan_out("op", FanOut::workers(1).capacity(4), op)
        .discard_failures()
        .sink(timed_sink(start, delivered.clone()))
        .run()
        .await
        .expect("runs");
    let ms = Duration::from_millis;
    // One worker: item 2 starts when item 1's first attempt times out
    // (at 100 ms, not later: the hung attempt let go of the worker), and
    // item 1's retry, due at 110 ms, when item 2's first attempt times out.
    assert_eq!(take(&attempts), [(1, ZERO), (2, ms(100)), (1, ms(200)), (2, ms(210))]);
    assert_eq!(take(&delivered), [(1, ms(200)), (2, ms(210))]);
    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.retries, stage.failed), (2, 0));
    assert_conserved(&report);
}

/// A zero attempt timeout is refused when the pipeline is built.
#[tokio::test(start_paused = true)]
async fn a_zero_attempt_timeout_is_a_build_error() {
    let op =
        (|x: u32| async move { Ok::<_, std::convert::Infallible>(x) }).timeout(ZERO).retry(constant_1s());
    let err = Pipeline::from_iter([1u32])
        .fan_out("op", FanOut::workers(1).capacity(4), op)
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .expect_err("refused");
    let RunError::Build(BuildError::Invalid { stage, message }) = err else { panic!("{err:?}") };
    assert_eq!(stage, "op");
    assert!(message.contains("attempt timeout is zero"), "{message}");
}

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct Status(u16);

/// Classification is the retry layer's, where the operation's error type
/// is known: the closure needs no annotation, and the policy is the same
/// plain `RetryPolicy` as any other.
#[tokio::test(start_paused = true)]
async fn a_classified_retry_in_a_fan_out_fails_permanent_errors_at_once() {
    let get = |x: u32| async move {
        match x {
            1 => Err(Status(404)),
            3 => Err(Status(503)),
            _ => Ok(x),
        }
    };
    let policy: RetryPolicy = constant_1s();
    let retried = get
        .retry(policy)
        .classify(|e| if e.0 >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent });
    let failed = Arc::new(Mutex::new(Vec::new()));
    let seen = failed.clone();
    let report = Pipeline::from_iter(0..4u32)
        .fan_out("get", FanOut::workers(2), retried)
        .route_failures(move |failure, _| {
            seen.lock().unwrap().push((*failure.item(), failure.attempts(), failure.class()));
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let mut failed = failed.lock().unwrap().clone();
    failed.sort();
    assert_eq!(failed, [(1, 1, ErrorClass::Permanent), (3, 3, ErrorClass::Transient)]);
    assert_eq!((report.delivered(), report.discarded()), (2, 2));
}

/// An invalid retry policy is a typed build error naming the stage, with
/// the policy's message, returned by `run()` and `spawn()` before the
/// source is polled: no `build()` to unwrap, and no panic.
#[tokio::test(start_paused = true)]
async fn an_invalid_retry_policy_is_a_build_error_naming_the_stage() {
    let invalid = [
        (RetryPolicy::exponential(SECOND).factor(0.5), "at least 1.0"),
        (RetryPolicy::exponential(SECOND).factor(f64::NAN), "finite"),
        (RetryPolicy::exponential(SECOND).cap(ms(10)), "raise the cap"),
        (RetryPolicy::constant(SECOND).max_attempts(0), "at least 1 attempt"),
        (RetryPolicy::constant(SECOND).max_elapsed(ZERO), "positive duration"),
        (
            RetryPolicy::constant(SECOND).budget(weir_retry::RetryBudget::new(-1.0, SECOND, 0)),
            "0.2 allows 20 %",
        ),
    ];
    for (policy, hint) in invalid {
        let polled = Arc::new(Mutex::new(false));
        let flag = polled.clone();
        let source = futures::stream::iter(0..3u32).inspect(move |_| *flag.lock().unwrap() = true);
        let op = (|x: u32| async move { Ok::<_, std::convert::Infallible>(x) }).retry(policy.clone());
        let runnable = Pipeline::new(source)
            .fan_out("store", FanOut::workers(2), op)
            .discard_failures()
            .sink(sink::drain());
        let err = runnable.run().await.expect_err("refused");
        let RunError::Build(BuildError::Invalid { stage, message }) = &err else { panic!("{err:?}") };
        assert_eq!(stage, "store");
        assert!(message.contains(hint), "{message} should say {hint:?}");
        assert_eq!(message, &policy.validate().unwrap_err().to_string());
        assert!(!*polled.lock().unwrap(), "the source was polled");

        let op = (|x: u32| async move { Ok::<_, std::convert::Infallible>(x) }).retry(policy);
        let spawned = Pipeline::from_iter(0..3u32)
            .fan_out_keyed("store", FanOut::workers(2), |x: &u32| *x, op)
            .discard_failures()
            .sink(sink::drain())
            .spawn();
        assert!(matches!(spawned, Err(BuildError::Invalid { .. })), "{spawned:?}");
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
