//! The retry layer driven through `Retry::call` under paused time.

mod common;

use std::time::Duration;

use common::{Scripted, TestError, ms};
use proptest::prelude::*;
use tokio::time::Instant;
use weir_core::{Cause, ErrorClass};
use weir_retry::{AttemptError, Jitter, RetryExt, RetryPolicy, TimeoutExt};

#[tokio::test(start_paused = true)]
async fn exponential_delays_are_exact_without_jitter() {
    let op = Scripted::failing(5, TestError::TRANSIENT);
    let policy = RetryPolicy::exponential(ms(100)).cap(ms(500)).max_attempts(6);
    let start = Instant::now();
    assert_eq!(op.clone().retry(policy).call(7).await.unwrap(), 7);
    assert_eq!(op.gaps(), [ms(100), ms(200), ms(400), ms(500), ms(500)]);
    assert_eq!(start.elapsed(), ms(1700));
}

#[tokio::test(start_paused = true)]
async fn constant_delays_are_exact() {
    let op = Scripted::failing(3, TestError::TRANSIENT);
    let policy = RetryPolicy::constant(ms(250)).max_attempts(4);
    op.clone().retry(policy).call(1).await.unwrap();
    assert_eq!(op.gaps(), [ms(250); 3]);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error() {
    let op = Scripted::always(TestError::TRANSIENT);
    let policy = RetryPolicy::constant(ms(10)).max_attempts(4);
    let err = op.clone().retry(policy).call(1).await.unwrap_err().into_exhausted().unwrap();
    assert_eq!(op.attempts(), 4);
    assert_eq!(err.attempts, 4);
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(matches!(err.cause, Cause::Error(TestError { class: ErrorClass::Transient, .. })));
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_retry() {
    let op = Scripted::always(TestError::TRANSIENT);
    let policy = RetryPolicy::constant(ms(10)).max_attempts(1);
    assert!(op.clone().retry(policy).call(1).await.is_err());
    assert_eq!(op.attempts(), 1);
}

#[tokio::test(start_paused = true)]
async fn permanent_and_poison_errors_are_never_retried() {
    for class in [ErrorClass::Permanent, ErrorClass::Poison] {
        // By the Classify trait.
        let op = Scripted::always(TestError::of(class));
        let policy = RetryPolicy::constant(ms(10)).max_attempts(10);
        let err =
            op.clone().retry(policy).classify_by_trait().call(1).await.unwrap_err().into_exhausted().unwrap();
        assert_eq!((op.attempts(), err.attempts, err.class), (1, 1, class));

        // By a closure, which overrides what the error says of itself.
        let op = Scripted::always(TestError::TRANSIENT);
        let policy = RetryPolicy::constant(ms(10)).max_attempts(10);
        let err = op
            .clone()
            .retry(policy)
            .classify(move |_| class)
            .call(1)
            .await
            .unwrap_err()
            .into_exhausted()
            .unwrap();
        assert_eq!((op.attempts(), err.class), (1, class));
    }
}

#[tokio::test(start_paused = true)]
async fn errors_are_transient_by_default() {
    // The error calls itself permanent, but the default classifier does not ask it.
    let op = Scripted::failing(2, TestError::of(ErrorClass::Permanent));
    let policy = RetryPolicy::constant(ms(10));
    assert_eq!(op.clone().retry(policy).call(3).await.unwrap(), 3);
    assert_eq!(op.attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_bounded_by_the_cap() {
    let asks = |d| TestError { class: ErrorClass::Transient, retry_after: Some(d) };
    let script = move |i: usize| {
        let wait = [ms(30), Duration::from_secs(3600), ms(1500)];
        (Duration::ZERO, if i < 3 { Err(asks(wait[i])) } else { Ok(()) })
    };
    let op = Scripted::new(script);
    let policy = RetryPolicy::exponential(ms(100)).cap(Duration::from_secs(2)).max_attempts(5);
    op.clone().retry(policy).classify_by_trait().call(1).await.unwrap();
    // A shorter ask is honoured as is, a longer one is cut to the cap.
    assert_eq!(op.gaps(), [ms(30), Duration::from_secs(2), ms(1500)]);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_counts_from_the_first_attempt() {
    // Each attempt takes 300 ms; retries wait 100 ms.
    let op = Scripted::new(|_| (ms(300), Err(TestError::TRANSIENT)));
    let policy = RetryPolicy::constant(ms(100)).max_attempts(100).max_elapsed(ms(1150));
    let start = Instant::now();
    op.clone().retry(policy).call(1).await.unwrap_err();
    // Attempts start at 0, 400, 800; the next would start at 1200 > 1150, so
    // the policy gives up at 1100 rather than start an attempt past the limit.
    let starts: Vec<_> = op.starts().iter().map(|s| *s - start).collect();
    assert_eq!(starts, [ms(0), ms(400), ms(800)]);
    assert_eq!(start.elapsed(), ms(1100));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_drops_slow_attempts_and_retries_them() {
    // The first two attempts hang for an hour; the third is quick.
    let op = Scripted::new(|i| (if i < 2 { Duration::from_secs(3600) } else { ms(5) }, Ok(())));
    let policy = RetryPolicy::constant(ms(10)).max_attempts(3);
    let start = Instant::now();
    assert_eq!(op.clone().timeout(ms(100)).retry(policy).call(9).await.unwrap(), 9);
    assert_eq!(start.elapsed(), ms(100 + 10 + 100 + 10 + 5));
    assert_eq!(op.attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_error_keeps_the_inner_error() {
    let op = Scripted::always(TestError::of(ErrorClass::Poison));
    let policy = RetryPolicy::constant(ms(10));
    let err = op
        .clone()
        .timeout(ms(100))
        .retry(policy)
        .classify_by_trait()
        .call(1)
        .await
        .unwrap_err()
        .into_exhausted()
        .unwrap();
    assert_eq!(err.class, ErrorClass::Poison);
    assert!(matches!(err.cause.error(), Some(AttemptError::Failed(e)) if e.class == ErrorClass::Poison));
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_retry_run_independently() {
    let op = Scripted::failing(1, TestError::TRANSIENT);
    let retry = op.clone().retry(RetryPolicy::constant(ms(10)));
    let other = retry.clone();
    let (a, b) = tokio::join!(retry.call(1), other.call(2));
    assert_eq!((a.unwrap(), b.unwrap()), (1, 2));
    assert_eq!(op.attempts(), 3, "only the first attempt overall failed");
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap()
}

fn jitters() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)]
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    /// However attempts behave (quick failures, slow failures, hangs), an
    /// item never gets more than `max_attempts` attempts and never runs
    /// longer than `max_elapsed` plus one attempt timeout.
    #[test]
    fn attempts_and_elapsed_stay_within_limits(
        base_ms in 0u64..500,
        extra_ms in 0u64..5_000,
        factor in 1.0f64..4.0,
        jitter in jitters(),
        seed in any::<u64>(),
        max_attempts in 1u32..20,
        max_elapsed_ms in 1u64..10_000,
        timeout_ms in 1u64..2_000,
        takes in proptest::collection::vec(0u64..5_000, 1..8),
    ) {
        let timeout = ms(timeout_ms);
        let max_elapsed = ms(max_elapsed_ms);
        let policy = RetryPolicy::exponential(ms(base_ms))
            .factor(factor)
            .cap(ms(base_ms + extra_ms))
            .jitter(jitter)
            .seed(seed)
            .max_attempts(max_attempts)
            .max_elapsed(max_elapsed);
        let op = Scripted::new(move |i| (ms(takes[i % takes.len()]), Err(TestError::TRANSIENT)));
        let (elapsed, err) = paused_runtime().block_on(async {
            let start = Instant::now();
            let err = op.clone().timeout(timeout).retry(policy).call(1).await.unwrap_err().into_exhausted().unwrap();
            (start.elapsed(), err)
        });
        prop_assert!(op.attempts() <= max_attempts as usize);
        prop_assert_eq!(err.attempts as usize, op.attempts());
        prop_assert!(elapsed <= max_elapsed + timeout, "{elapsed:?} > {max_elapsed:?} + {timeout:?}");
    }
}
