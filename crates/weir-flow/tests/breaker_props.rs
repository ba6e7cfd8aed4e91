//! Properties of the breaker under random outages (paused clock): while
//! half-open, no more calls reach the dependency than the breaker's
//! probes; every item is delivered or discarded, once; and once the
//! dependency is back, the next calls (as many as its probes) close it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_flow::{Breaker, BreakerExt, BreakerState};
use weir_retry::{RetryExt, RetryPolicy};

#[derive(Debug, thiserror::Error)]
#[error("down")]
struct Down;

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn half_open_admits_only_the_probes_and_nothing_is_lost(
        items in 1..300u32,
        workers in 1..6usize,
        probes in 1..4u32,
        // Alternating up and down periods, in milliseconds.
        periods in prop::collection::vec(1..3_000u64, 1..6),
    ) {
        weir_testkit::faults::run_paused(async move {
            let down = Arc::new(AtomicBool::new(false));
            let breaker = Breaker::new().min_calls(4).failure_rate(0.5).cool_down(Duration::from_millis(500)).probes(probes);
            let (running_half_open, most_half_open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let op = {
                let (down, breaker) = (down.clone(), breaker.clone());
                let (running, most) = (running_half_open.clone(), most_half_open.clone());
                move |x: u32| {
                    let (down, breaker, running, most) = (down.clone(), breaker.clone(), running.clone(), most.clone());
                    async move {
                        let probing = breaker.state() == BreakerState::HalfOpen;
                        if probing {
                            most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        if probing {
                            running.fetch_sub(1, Ordering::SeqCst);
                        }
                        if down.load(Ordering::SeqCst) { Err(Down) } else { Ok(x) }
                    }
                }
            };
            let policy = RetryPolicy::constant(Duration::from_millis(50)).max_attempts(4);
            let guarded = op.retry(policy).breaker(breaker.clone());
            let (stored, rows) = sink::collect();
            let handle = Pipeline::from_iter(0..items)
                .fan_out("store", FanOut::workers(workers).capacity(8), guarded.clone())
                .discard_failures()
                .sink(stored)
                .spawn()
                .unwrap();
            for (i, period) in periods.iter().enumerate() {
                down.store(i % 2 == 0, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(*period)).await;
            }
            down.store(false, Ordering::SeqCst);
            let report = handle.join().await.unwrap();
            prop_assert!(report.is_conserved(), "{}", report);
            prop_assert_eq!(report.delivered() + report.discarded(), u64::from(items), "{}", report);
            let mut rows = rows.take();
            rows.sort_unstable();
            rows.dedup();
            prop_assert_eq!(rows.len() as u64, report.delivered(), "each row stored once");
            prop_assert!(most_half_open.load(Ordering::SeqCst) <= probes as usize, "{} calls while half-open, {} probes", most_half_open.load(Ordering::SeqCst), probes);
            prop_assert_eq!(breaker.waiting(), 0);
            // With the dependency back, the next calls go through (as the
            // probes, after the cool-down, if it was open) and close it.
            for _ in 0..probes {
                prop_assert!(weir_core::operation::call(&guarded, 0).await.is_ok());
            }
            prop_assert_eq!(breaker.state(), BreakerState::Closed);
            Ok(())
        })?;
    }
}
