//! A forced ending's report is final: when `abort()`, a drain deadline or
//! a panic ends a run, every task of the pipeline has stopped before the
//! report is taken, nothing is pulled from the source afterwards, and no
//! item is acknowledged afterwards.
//!
//! Each test blocks the thread of a stage that runs on a `buffer`'s task
//! (as a CPU-heavy step would) while the run is forced to end on the
//! multi-thread runtime, then counts for itself what happened after the
//! ending returned.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use weir_core::prelude::*;
use weir_core::sink;

/// What the test counts itself.
#[derive(Default)]
struct Probe {
    pulled: AtomicU64,
    acked: AtomicU64,
    /// The blocking stage has started blocking.
    entered: Notify,
    blocking: AtomicBool,
}

impl Probe {
    fn counts(&self) -> (u64, u64) {
        (self.pulled.load(SeqCst), self.acked.load(SeqCst))
    }
}

const HOLD: u64 = 5;

/// `0..` with an acknowledgement per item, through a stage that blocks
/// its thread for 300 ms at item 5 (on the buffer's task), a filter that
/// drops odd items (acknowledging them there), and the buffer.
fn pipeline(probe: &Arc<Probe>) -> Pipeline<u64> {
    let p = probe.clone();
    let source = futures::stream::iter(0u64..).map(move |x| {
        p.pulled.fetch_add(1, SeqCst);
        let p = p.clone();
        (
            x,
            Ack::new(move || {
                p.acked.fetch_add(1, SeqCst);
            }),
        )
    });
    let p = probe.clone();
    Pipeline::from_acked(source)
        .map("hold", move |x| {
            if x == HOLD {
                p.blocking.store(true, SeqCst);
                p.entered.notify_one();
                std::thread::sleep(Duration::from_millis(300));
            }
            x
        })
        .filter("even", |x| x % 2 == 0)
        .buffer("hand-off", 4)
}

/// Nothing happened after the ending returned, and the report says what
/// happened before it.
async fn assert_final(probe: &Probe, report: &Report) {
    let at_return = probe.counts();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(probe.counts(), at_return, "nothing was pulled or acknowledged after the ending returned");
    let (pulled, acked) = at_return;
    assert_eq!(report.source_items(), pulled, "the report counts every item pulled: {report}");
    assert!(pulled > HOLD, "the held item was pulled");
    let filtered = report.stage("even").expect("stage").filtered;
    // Every item pulled went through the two synchronous stages on the
    // buffer's task: the odd ones among them were filtered.
    assert_eq!(filtered, pulled / 2, "{report}");
    assert_eq!(
        acked,
        report.delivered() + report.filtered(),
        "acks fired for what the report says ended: {report}"
    );
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_returns_once_every_task_has_stopped() {
    let probe = Arc::new(Probe::default());
    let handle = pipeline(&probe).sink(sink::drain()).spawn().expect("valid");
    probe.entered.notified().await;
    let report = handle.abort().await.expect("an abort is no error");
    assert_eq!(report.ending(), Ending::Aborted);
    assert_final(&probe, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_drain_deadline_returns_once_every_task_has_stopped() {
    let probe = Arc::new(Probe::default());
    let p = probe.clone();
    let report = pipeline(&probe)
        .sink(sink::drain())
        .drain_timeout(Duration::from_millis(20))
        .run_until(async move { p.entered.notified().await })
        .await
        .expect("a deadline is no error");
    assert_eq!(report.ending(), Ending::Aborted);
    assert_final(&probe, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ending_on_a_panic_returns_once_every_task_has_stopped() {
    let probe = Arc::new(Probe::default());
    let p = probe.clone();
    let err = pipeline(&probe)
        .then("boom", move |x| {
            let p = p.clone();
            async move {
                if x == 0 {
                    p.entered.notified().await;
                    panic!("boom");
                }
                x
            }
        })
        .sink(sink::drain())
        .run()
        .await
        .expect_err("the stage panicked");
    let RunError::Panicked { report, .. } = err else { panic!("not a panic: {err}") };
    assert!(probe.blocking.load(SeqCst));
    assert_final(&probe, &report).await;
}
