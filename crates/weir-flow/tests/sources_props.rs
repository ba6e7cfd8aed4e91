//! Properties of the restartable source, the kill switch and the idle
//! timeout, on a paused clock, under random schedules.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;
use weir_flow::{FlowTimeoutExt, KillSwitch, RestartSource};
use weir_retry::RetryPolicy;
use weir_testkit::AckLog;
use weir_testkit::faults::run_paused;

#[derive(Debug, thiserror::Error)]
#[error("reset")]
struct Reset;

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// Incarnations of random lengths, each ending with a reset, until
    /// the policy gives up: every item of every incarnation is delivered,
    /// in order, and acknowledged; the restarts are counted; the run
    /// fails with the source's error, its report conserved.
    #[test]
    fn every_incarnations_items_are_delivered_and_acknowledged(
        lengths in prop::collection::vec(0..6u32, 1..8),
        attempts in 1..6u32,
    ) {
        let (delivered, acked, report, made) = run_paused(async move {
            let acks = AckLog::default();
            let log = acks.clone();
            let made = Arc::new(AtomicUsize::new(0));
            let count = made.clone();
            let lengths = Arc::new(lengths);
            let source = RestartSource::acked(move || {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let length = lengths[n % lengths.len()];
                let log = log.clone();
                async move {
                    let items = (0..=length).map(move |i| {
                        let item = (n as u32) * 100 + i;
                        if i < length { Ok((item, log.ack(item))) } else { Err(Reset) }
                    });
                    Ok::<_, Reset>(futures::stream::iter(items))
                }
            })
            .backoff(RetryPolicy::constant(Duration::from_millis(3)).max_attempts(attempts));
            let (rows, stored) = sink::collect();
            let err = Pipeline::from_source(source).sink(rows).run().await.unwrap_err();
            (stored.take(), acks.fired_sorted(), err.report().unwrap().clone(), made.load(Ordering::SeqCst))
        });
        prop_assert_eq!(made as u32, attempts, "one incarnation per attempt");
        prop_assert!(delivered.windows(2).all(|w| w[0] < w[1]), "in order: {:?}", delivered);
        prop_assert_eq!(&acked, &delivered, "each acknowledged once delivered");
        prop_assert!(report.is_conserved());
        prop_assert_eq!(report.delivered(), delivered.len() as u64);
        let restarts = report.stage("source").unwrap().gauges.iter().find(|(n, _)| n == "source_restarts").unwrap().1;
        prop_assert_eq!(restarts, u64::from(attempts) - 1);
    }

    /// Several pipelines under one switch, thrown at a random moment:
    /// each drains everything it took, and ends.
    #[test]
    fn a_kill_switch_drains_every_pipeline_it_guards(pipelines in 1..5usize, at_ms in 0..500u64) {
        run_paused(async move {
            let switch = KillSwitch::new();
            let runs: Vec<_> = (0..pipelines)
                .map(|i| {
                    let source = futures::stream::iter(0u64..).then(move |x| async move {
                        tokio::time::sleep(Duration::from_millis(1 + i as u64)).await;
                        x
                    });
                    tokio::spawn(switch.guard(Pipeline::new(source).sink(sink::drain())))
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(at_ms)).await;
            switch.shutdown();
            for run in runs {
                let report = run.await.unwrap().unwrap();
                prop_assert!(report.is_conserved());
                prop_assert_eq!(report.abandoned(), 0);
                prop_assert_eq!(report.delivered(), report.source_items());
            }
            Ok(())
        })?;
    }

    /// Random gaps between items: an idle event for every whole `after`
    /// of each gap (and of the wait for the first item), no more. (A gap
    /// of exactly a multiple of `after` is a tie between the item and
    /// the timer, either way right: moved by a millisecond.)
    #[test]
    fn idle_events_come_once_per_idle_period(gaps_ms in prop::collection::vec(0..100u64, 1..20), after_ms in 5..40u64) {
        let gaps_ms: Vec<u64> =
            gaps_ms.into_iter().map(|gap| if gap > 0 && gap.is_multiple_of(after_ms) { gap + 1 } else { gap }).collect();
        let events = run_paused(async move {
            let source = futures::stream::iter(gaps_ms.clone()).then(|gap| async move {
                tokio::time::sleep(Duration::from_millis(gap)).await;
                gap
            });
            let events = Arc::new(Mutex::new(0u64));
            let seen = events.clone();
            Pipeline::new(source)
                .on_idle("idle", Duration::from_millis(after_ms), move |_| *seen.lock().unwrap() += 1)
                .sink(sink::drain())
                .run()
                .await
                .unwrap();
            let expected: u64 = gaps_ms.iter().map(|gap| gap / after_ms).sum();
            (*events.lock().unwrap(), expected)
        });
        prop_assert_eq!(events.0, events.1);
    }
}
