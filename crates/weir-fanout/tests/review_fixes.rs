//! Regressions found in review: very long retry delays, huge capacities.

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
    let policy = RetryPolicy::constant(Duration::from_secs(3 * 365 * 86400)).max_attempts(2).build().unwrap();
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
