//! Adaptive concurrency against a simulated database (weir-testkit's
//! `SimDatabase`: it serves K requests at a time, K unknown to weir),
//! on a paused clock: the limit finds K, keeps the throughput, drops
//! during an outage and comes back within a few round trips.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_core::prelude::*;
use weir_core::{ErrorClass, sink};
use weir_fanout::{FanOut, FanOutExt};
use weir_flow::{Adaptive, AdaptiveExt};
use weir_testkit::sim::{Down, SimDatabase};

const BASE: Duration = Duration::from_millis(5);

/// Runs an endless stream of writes into `db` through a fan-out of 256
/// workers under `adaptive`, sampling the limit every 100 ms, for
/// `seconds` of virtual time; returns the samples and the report.
async fn run(db: &SimDatabase, adaptive: &Adaptive, seconds: u64) -> (Vec<u32>, Report) {
    let store = {
        let db = db.clone();
        move |_: u64| {
            let db = db.clone();
            async move { db.write().await }
        }
    };
    let handle = Pipeline::from_iter(0u64..)
        .fan_out("store", FanOut::workers(256).capacity(512), store.adaptive(adaptive.clone()))
        .discard_failures()
        .sink(sink::drain())
        .spawn()
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..seconds * 10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        samples.lock().unwrap().push(adaptive.limit());
    }
    let report = handle.shutdown().await.unwrap();
    let samples = samples.lock().unwrap().clone();
    (samples, report)
}

#[tokio::test(start_paused = true)]
async fn the_limit_finds_the_databases_capacity_and_keeps_its_throughput() {
    for k in [4, 24, 100, 200] {
        let db = SimDatabase::new(k, BASE).jitter(0.2);
        let adaptive = Adaptive::new();
        let (samples, report) = run(&db, &adaptive, 10).await;
        // After the first second, the limit stays near K.
        let settled = &samples[10..];
        let (low, high) = (*settled.iter().min().unwrap(), *settled.iter().max().unwrap());
        assert!(
            low >= k * 7 / 10 && high <= k * 3 / 2 + 2,
            "K {k}: limit between {low} and {high}: {samples:?}"
        );
        // Throughput within 10 % of the database's (K per 5 ms, less the
        // jitter's average 10 %).
        let best = f64::from(k) / (BASE.as_secs_f64() * 1.1) * 10.0;
        let got = report.delivered() as f64;
        assert!(got >= 0.9 * best, "K {k}: {got} writes, best {best}");
        assert!(report.stage("store").unwrap().gauges.iter().any(|(n, _)| n == "concurrency_limit"));
    }
}

#[tokio::test(start_paused = true)]
async fn an_outage_brings_the_limit_down_and_it_is_back_within_two_seconds() {
    let k = 32;
    let db = SimDatabase::new(k, BASE).outage(Duration::from_secs(3), Duration::from_secs(5));
    let adaptive = Adaptive::new();
    let (samples, report) = run(&db, &adaptive, 10).await;
    // During the outage (3 s to 5 s) the limit falls to the minimum.
    assert!(samples[25..49].iter().any(|l| *l <= 2), "{samples:?}");
    // Within 2 s of its end it is back near K (in fact within a few
    // round trips).
    let back = samples[50..].iter().position(|l| *l >= k * 8 / 10).expect("back") as u64;
    assert!(back * 100 <= 2_000, "back {back} samples after the outage: {samples:?}");
    assert!(db.refused() > 0);
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_classified_out_do_not_lower_the_limit() {
    let adaptive = Adaptive::new().bounds(1, 16);
    let bad_rows = |x: u64| async move {
        tokio::time::sleep(BASE).await;
        if x.is_multiple_of(2) { Err(Down) } else { Ok(x) }
    };
    let op = bad_rows.adaptive(adaptive.clone()).classify(|_: &Down| ErrorClass::Permanent);
    let report = Pipeline::from_iter(0..5_000u64)
        .fan_out("store", FanOut::workers(16), op)
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 2_500);
    assert_eq!(adaptive.limit(), 16, "half the rows fail, but as bad rows, not as overload");
}

#[tokio::test(start_paused = true)]
async fn the_database_never_sees_more_than_the_limits_upper_bound() {
    let db = SimDatabase::new(1_000, BASE);
    let adaptive = Adaptive::new().bounds(1, 8);
    let _ = run(&db, &adaptive, 2).await;
    assert!(db.most_in_flight() <= 8, "{}", db.most_in_flight());
    assert_eq!(adaptive.limit(), 8);
}

#[tokio::test]
async fn invalid_bounds_are_refused_when_the_pipeline_is_built() {
    let op = |x: u32| async move { Ok::<_, Down>(x) };
    let err = Pipeline::from_iter(0..3u32)
        .fan_out("store", FanOut::workers(2), op.adaptive(Adaptive::new().bounds(0, 4)))
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Build(BuildError::Invalid { stage, message }) = err else { panic!("{err:?}") };
    assert_eq!(stage, "store");
    assert!(message.contains("bounds 0..=4"), "{message}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::default())]

        /// Whatever the database's capacity and speed: the limit stays
        /// within its bounds, the database never sees more than the upper
        /// bound at once, nothing is lost, and after the first second the
        /// throughput is within 20 % of what the database can do.
        #[test]
        fn the_limit_stays_in_bounds_and_finds_most_of_the_capacity(
            k in 1..32u32,
            base_ms in 5..20u64,
            max in 1..64u32,
        ) {
            weir_testkit::faults::run_paused(async move {
                let base = Duration::from_millis(base_ms);
                let db = SimDatabase::new(k, base);
                let adaptive = Adaptive::new().bounds(1, max);
                let (samples, report) = run(&db, &adaptive, 2).await;
                prop_assert!(samples.iter().all(|l| (1..=max).contains(l)), "{:?}", samples);
                prop_assert!(db.most_in_flight() <= max);
                prop_assert!(report.is_conserved());
                prop_assert_eq!(report.delivered() + report.discarded(), report.source_items());
                let capacity = f64::from(k.min(max)) / base.as_secs_f64();
                let got = report.delivered() as f64 / 2.0;
                // The first second includes the slow start: judge the run
                // by its writes per second over both, against 80 %.
                prop_assert!(got >= 0.8 * capacity, "{} writes/s of {}", got, capacity);
                Ok(())
            })?;
        }
    }
}
