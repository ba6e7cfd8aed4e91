//! A forced ending's report is final for dead letters too: an item the
//! report counts as abandoned is never stored or acknowledged after
//! `abort()` returned, and an item stored before is counted as
//! dead-lettered.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use weir_core::prelude::*;
use weir_core::{Sink, SinkError, sink};
use weir_deadletter::{DeadLetter, DeadLetterExt};

#[derive(Debug, thiserror::Error)]
#[error("odd item {0}")]
struct Odd(u64);

/// Stores records by counting them when flushed; the first flush blocks
/// its thread (as a synchronous write would) after telling the test.
#[derive(Clone, Default)]
struct SlowStore {
    stored: Arc<AtomicU64>,
    entered: Arc<Notify>,
    unflushed: u64,
}

impl Sink<DeadLetter<u64>> for SlowStore {
    type Error = Infallible;

    async fn send(&mut self, _record: DeadLetter<u64>) -> Result<(), SinkError<DeadLetter<u64>, Infallible>> {
        self.unflushed += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        if self.stored.load(SeqCst) == 0 {
            self.entered.notify_one();
            std::thread::sleep(Duration::from_millis(300));
        }
        self.stored.fetch_add(std::mem::take(&mut self.unflushed), SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_reported_abandoned_is_never_stored_or_acknowledged_after_abort() {
    let store = SlowStore::default();
    let acked = Arc::new(AtomicU64::new(0));
    let a = acked.clone();
    let source = futures::stream::iter([1u64]).map(move |x| {
        let a = a.clone();
        (
            x,
            Ack::new(move || {
                a.fetch_add(1, SeqCst);
            }),
        )
    });
    let handle = Pipeline::from_acked(source)
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
        .dead_letter(store.clone())
        .sink(sink::drain())
        .spawn()
        .expect("valid");
    store.entered.notified().await;
    let report = handle.abort().await.expect("an abort is no error");
    let at_return = (store.stored.load(SeqCst), acked.load(SeqCst));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        (store.stored.load(SeqCst), acked.load(SeqCst)),
        at_return,
        "nothing stored or acknowledged after abort() returned"
    );
    assert_eq!(report.dead_lettered(), at_return.0, "the report counts what was stored: {report}");
    assert_eq!(report.abandoned(), 1 - at_return.0, "{report}");
    assert_eq!(at_return.1, at_return.0, "acknowledged exactly when stored");
    assert!(report.is_conserved(), "{report}");
}

mod random_schedules {
    //! Random pipelines (a buffer, a fan-out whose items take random
    //! times and fail now and then, dead letters, a filter) ended at a
    //! random moment by `abort()` or by a shutdown whose drain deadline is
    //! about to expire, on the multi-thread runtime. What the report says
    //! must be what the test counts itself, and nothing may happen after
    //! the ending returned.

    use super::*;
    use proptest::prelude::*;
    use weir_fanout::{FanOut, FanOutExt};

    #[derive(Debug, Clone)]
    struct Case {
        items: u64,
        workers: usize,
        fail_every: u64,
        /// Item `i` sleeps `i % spread` microseconds.
        spread: u64,
        end_after_us: u64,
        abort: bool,
    }

    fn case() -> impl Strategy<Value = Case> {
        (1..300u64, 1..4usize, 2..7u64, 1..400u64, 0..3000u64, any::<bool>()).prop_map(
            |(items, workers, fail_every, spread, end_after_us, abort)| Case {
                items,
                workers,
                fail_every,
                spread,
                end_after_us,
                abort,
            },
        )
    }

    async fn check(case: Case) -> Result<(), TestCaseError> {
        let (pulled, acked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (p, a) = (pulled.clone(), acked.clone());
        let source = futures::stream::iter(0..case.items).map(move |x| {
            p.fetch_add(1, SeqCst);
            let a = a.clone();
            (
                x,
                Ack::new(move || {
                    a.fetch_add(1, SeqCst);
                }),
            )
        });
        let (dead, records) = sink::collect();
        let (sink, out) = sink::collect();
        let (fail_every, spread) = (case.fail_every, case.spread);
        let handle = Pipeline::from_acked(source)
            .filter("not-7", |x| !x.is_multiple_of(7))
            .buffer("hand-off", 8)
            .fan_out("work", FanOut::workers(case.workers).capacity(16), move |x: u64| async move {
                tokio::time::sleep(Duration::from_micros(x % spread)).await;
                if x.is_multiple_of(fail_every) { Err(Odd(x)) } else { Ok(x) }
            })
            .dead_letter(dead)
            .sink(sink)
            .drain_timeout(Duration::from_micros(200))
            .spawn()
            .expect("valid");
        tokio::time::sleep(Duration::from_micros(case.end_after_us)).await;
        let report = if case.abort { handle.abort().await } else { handle.shutdown().await };
        let report = report.expect("no error");
        let counts = || (pulled.load(SeqCst), acked.load(SeqCst), records.len() as u64, out.len() as u64);
        let at_return = counts();
        tokio::time::sleep(Duration::from_millis(5)).await;
        prop_assert_eq!(counts(), at_return, "nothing happened after the ending returned");
        let (pulled, acked, stored, delivered) = at_return;
        prop_assert_eq!(report.source_items(), pulled, "items in: {}", report);
        prop_assert_eq!(report.dead_lettered(), stored, "dead-lettered: {}", report);
        prop_assert_eq!(report.delivered(), delivered, "delivered: {}", report);
        prop_assert_eq!(acked, delivered + stored + report.filtered(), "acknowledged: {}", report);
        prop_assert!(report.is_conserved(), "{}", report);
        Ok(())
    }

    proptest! {
        // 300 cases, or PROPTEST_CASES (TESTING.md).
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300),
            ..ProptestConfig::default()
        })]

        #[test]
        fn what_the_report_says_is_what_happened(case in case()) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(check(case))?;
        }
    }
}
