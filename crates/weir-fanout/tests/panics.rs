//! Isolation: a panicking operation fails its item only, with the panic
//! message; the stage keeps all its workers and delivers everything else.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use tokio::time::{Instant, sleep};
use weir_core::prelude::*;
use weir_core::sink;
use weir_core::{Attempt, Verdict};
use weir_fanout::{FanOut, FanOutExt};
use weir_testkit::assert_conserved;

const N: u64 = 1000;
const WORKERS: usize = 4;
const WORK: Duration = Duration::from_millis(10);

/// Keeps the expected panics of these tests out of the output; any other
/// panic is printed as usual.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            let expected = match message {
                Some(m) => m.starts_with("boom"),
                None => payload.is::<u32>(),
            };
            if !expected {
                default(info);
            }
        }));
    });
}

/// What the failure route saw of one failure.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    item: u64,
    stage: String,
    panic: Option<String>,
    class: ErrorClass,
    attempts: u32,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

fn record_failures<T: Send + 'static, E: Send + 'static>(
    pipeline: Fallible<T, u64, E>,
    log: SeenLog,
) -> Pipeline<T> {
    pipeline.route_failures(move |failure: Failure<u64, E>, _| {
        log.lock().unwrap().push(Seen {
            item: *failure.item(),
            stage: failure.stage().to_owned(),
            panic: failure.cause().panic_message().map(str::to_owned),
            class: failure.class(),
            attempts: failure.attempts(),
        });
        failure.settle(Settled::Discarded);
        std::future::ready(())
    })
}

#[tokio::test(start_paused = true)]
async fn one_percent_of_items_panic_and_everything_else_is_delivered() {
    quiet_expected_panics();
    let running = Arc::new(AtomicUsize::new(0));
    // The most operations running at once among the last hundred items,
    // which start after nine panics.
    let late_concurrency = Arc::new(AtomicUsize::new(0));
    let (r, late) = (running.clone(), late_concurrency.clone());
    let op = move |i: u64| {
        // Half of the panics happen when the operation is called ...
        if i % 200 == 99 {
            panic!("boom at {i}");
        }
        let (running, late) = (r.clone(), late.clone());
        async move {
            let now = running.fetch_add(1, SeqCst) + 1;
            if i >= 900 {
                late.fetch_max(now, SeqCst);
            }
            sleep(WORK).await;
            running.fetch_sub(1, SeqCst);
            // ... and half inside the future, after an await.
            if i % 200 == 199 {
                panic!("boom at {i}");
            }
            Ok::<_, Infallible>(i * 2)
        }
    };
    let failures = SeenLog::default();
    let (sink, out) = sink::collect();
    let start = Instant::now();
    let report = record_failures(
        Pipeline::from_iter(0..N).fan_out("op", FanOut::workers(WORKERS).capacity(32), op),
        failures.clone(),
    )
    .sink(sink)
    .run()
    .await
    .expect("runs");

    let panicking = |i: &u64| i % 100 == 99;
    let mut out = out.take();
    out.sort_unstable();
    assert_eq!(out, (0..N).filter(|i| !panicking(i)).map(|i| i * 2).collect::<Vec<_>>());

    let mut failures = failures.lock().unwrap().clone();
    failures.sort_by_key(|s| s.item);
    let expected: Vec<Seen> = (0..N)
        .filter(panicking)
        .map(|i| Seen {
            item: i,
            stage: "op".to_owned(),
            panic: Some(format!("boom at {i}")),
            class: ErrorClass::Poison,
            attempts: 1,
        })
        .collect();
    assert_eq!(failures, expected);

    let stage = report.stage("op").expect("stage");
    assert_eq!((stage.received, stage.emitted), (N, N - 10));
    assert_eq!((stage.failed, stage.panicked, stage.discarded), (10, 10, 10));
    assert_eq!(report.delivered(), N - 10);
    assert_conserved(&report);

    // All four workers were still there at the end ...
    assert_eq!(late_concurrency.load(SeqCst), WORKERS);
    // ... and during the whole run: 995 operations of 10 ms (the five that
    // panic on the call take no time) on 4 workers.
    let ideal = WORK * 995 / WORKERS as u32;
    let took = start.elapsed();
    assert!(took >= ideal && took <= ideal + WORK * 2, "took {took:?}, ideal {ideal:?}");
}

#[tokio::test(start_paused = true)]
async fn a_non_string_panic_payload_still_fails_only_its_item() {
    quiet_expected_panics();
    let failures = SeenLog::default();
    let (sink, out) = sink::collect();
    let op = |i: u64| async move {
        if i == 3 {
            std::panic::panic_any(7u32);
        }
        Ok::<_, Infallible>(i)
    };
    let report = record_failures(
        Pipeline::from_iter(0..8u64).fan_out("op", FanOut::workers(1).ordered(), op),
        failures.clone(),
    )
    .sink(sink)
    .run()
    .await
    .expect("runs");
    assert_eq!(out.take(), [0, 1, 2, 4, 5, 6, 7]);
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].item, 3);
    assert_eq!(failures[0].class, ErrorClass::Poison);
    assert!(
        failures[0].panic.as_deref().is_some_and(|m| !m.is_empty()),
        "a panic message, even without a string"
    );
    assert_eq!(report.stage("op").expect("stage").panicked, 1);
    assert_conserved(&report);
}

/// An operation whose failure policy panics.
struct PanickyPolicy;

#[derive(Debug, thiserror::Error)]
#[error("odd item {0}")]
struct Odd(u64);

impl Operation<u64> for PanickyPolicy {
    type Output = u64;
    type Error = Odd;
    type Future = futures::future::Ready<Result<u64, Odd>>;

    fn apply(&self, input: u64) -> Self::Future {
        futures::future::ready(if input % 2 == 1 { Err(Odd(input)) } else { Ok(input) })
    }

    fn on_failure(&self, _: &mut Attempt, error: &Odd) -> Verdict {
        panic!("boom in on_failure for {error}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_failure_policy_fails_the_item_as_poison() {
    quiet_expected_panics();
    let failures = SeenLog::default();
    let (sink, out) = sink::collect();
    let report = record_failures(
        Pipeline::from_iter(0..10u64).fan_out("op", FanOut::workers(2).ordered(), PanickyPolicy),
        failures.clone(),
    )
    .sink(sink)
    .run()
    .await
    .expect("runs");
    assert_eq!(out.take(), [0, 2, 4, 6, 8]);
    let mut failures = failures.lock().unwrap().clone();
    failures.sort_by_key(|s| s.item);
    assert_eq!(failures.iter().map(|s| s.item).collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
    assert!(failures.iter().all(|s| s.class == ErrorClass::Poison && s.attempts == 1));
    assert_conserved(&report);
}
