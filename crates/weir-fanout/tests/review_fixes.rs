//! Regressions found in review: very long retry delays, huge capacities,
//! absurd worker counts.

use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_retry::{RetryExt, RetryPolicy};

#[derive(Debug, thiserror::Error)]
#[error("e{0}")]
struct E(u32);

#[tokio::test(start_paused = true)]
async fn a_retry_delay_longer_than_the_timer_wheel_parks_for_a_year_instead_of_killing_the_worker() {
    // Three years: longer than tokio's DelayQueue accepts.
    let policy = RetryPolicy::constant(Duration::from_secs(3 * 365 * 86400)).max_attempts(2);
    let op = (|x: u32| async move { if x == 0 { Err(E(x)) } else { Ok(x) } }).retry(policy);
    let start = tokio::time::Instant::now();
    let report = Pipeline::from_iter(0..100u32)
        .fan_out_keyed("k", FanOut::workers(2).capacity(4), |x: &u32| *x % 2, op)
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .expect("the run ends");
    assert_eq!((report.delivered(), report.discarded()), (99, 1));
    assert_eq!(start.elapsed(), Duration::from_secs(365 * 86400), "parked for the longest park, a year");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test]
async fn a_capacity_beyond_what_a_stage_can_count_is_a_build_error() {
    for config in [FanOut::workers(2).capacity(usize::MAX), FanOut::workers(2).capacity(usize::MAX - 1)] {
        let err = Pipeline::from_iter(0..3u32)
            .fan_out("op", config, |x: u32| async move { Ok::<_, E>(x) })
            .discard_failures()
            .sink(sink::drain())
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Build(BuildError::Invalid { .. })), "{err:?}");
    }
    let err = Pipeline::from_iter(0..3u32)
        .broadcast("copies", usize::MAX, vec![|x: u32| async move { Ok::<_, E>(x) }])
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Build(BuildError::Invalid { .. })), "{err:?}");
}

#[tokio::test]
async fn an_absurd_worker_count_is_a_build_error_naming_the_limit() {
    let op = |x: u32| async move { Ok::<_, E>(x) };
    let limit = FanOut::MAX_WORKERS;
    for workers in [1 << 40, limit + 1, usize::MAX / 16, usize::MAX] {
        let started = std::time::Instant::now();
        let err = Pipeline::from_iter(0..3u32)
            .fan_out("op", FanOut::workers(workers), op)
            .discard_failures()
            .sink(sink::drain())
            .run()
            .await
            .unwrap_err();
        let RunError::Build(BuildError::Invalid { stage, message }) = err else {
            panic!("{workers}: {err:?}")
        };
        assert_eq!(stage, "op");
        assert!(message.contains(&workers.to_string()) && message.contains(&limit.to_string()), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1), "rejected before anything started");
        let err = Pipeline::from_iter(0..3u32)
            .fan_out_keyed("keyed", FanOut::workers(workers), |x: &u32| *x, op)
            .discard_failures()
            .sink(sink::drain())
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Build(BuildError::Invalid { .. })), "{err:?}");
    }
    let err = Pipeline::from_iter(0..3u32)
        .broadcast("copies", 8, vec![op; limit + 1])
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Build(BuildError::Invalid { .. })), "{err:?}");
}

#[tokio::test]
async fn the_largest_worker_count_runs() {
    let report = Pipeline::from_iter(0..3u32)
        .fan_out(
            "op",
            FanOut::workers(FanOut::MAX_WORKERS).capacity(4),
            |x: u32| async move { Ok::<_, E>(x) },
        )
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_delay_of_duration_max_parks_for_a_year() {
    let policy = RetryPolicy::constant(Duration::MAX).max_attempts(2);
    let op = (|x: u32| async move { if x == 0 { Err(E(x)) } else { Ok(x) } }).retry(policy);
    let start = tokio::time::Instant::now();
    let report = Pipeline::from_iter(0..10u32)
        .fan_out("op", FanOut::workers(2), op)
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .expect("the run ends");
    assert_eq!((report.delivered(), report.discarded()), (9, 1));
    assert_eq!(start.elapsed(), Duration::from_secs(365 * 86400));
}
