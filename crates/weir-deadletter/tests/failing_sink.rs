//! A failing dead-letter sink is never a silent drop: it is retried, and
//! if it stays down the run ends with a typed error that counts the
//! failures that could not be stored.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;
use weir_deadletter::{
    DeadLetter, DeadLetterError, DeadLetterExt, DeadLetterOptions, DeadLetterSink, Memory, StoreError, memory,
};
use weir_retry::RetryPolicy;

#[derive(Debug, thiserror::Error)]
#[error("divisible by 3")]
struct Three;

#[derive(Debug, thiserror::Error)]
#[error("dead-letter store unavailable")]
struct Unavailable;

/// Fails its first `failures` calls to `store`, then stores into memory.
struct Flaky {
    failures: u32,
    calls: Arc<AtomicU32>,
    inner: Memory<u32>,
}

impl DeadLetterSink<u32> for Flaky {
    type Error = Unavailable;

    async fn store(&mut self, records: Vec<DeadLetter<u32>>) -> Result<(), StoreError<u32, Unavailable>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            return Err(StoreError::transient(Unavailable, records));
        }
        self.inner.store(records).await.map_err(|e| match e.into_parts().0 {})
    }

    async fn sync(&mut self) -> Result<(), Unavailable> {
        Ok(())
    }
}

fn options(max_attempts: u32) -> DeadLetterOptions {
    let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(max_attempts).build().unwrap();
    DeadLetterOptions::new().retry(policy)
}

fn acked_source(
    acked: &Arc<Mutex<Vec<u32>>>,
    items: std::ops::Range<u32>,
) -> impl futures::Stream<Item = (u32, Ack)> + Send + 'static {
    let log = acked.clone();
    futures::stream::iter(items.map(move |i| {
        let acked = log.clone();
        (i, Ack::new(move || acked.lock().unwrap().push(i)))
    }))
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_fails_for_a_while_then_recovers_stores_everything() {
    let (inner, records) = memory();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: 3, calls: calls.clone(), inner };
    let acked = Arc::new(Mutex::new(Vec::new()));
    let started = tokio::time::Instant::now();
    let report = Pipeline::from_acked(acked_source(&acked, 0..30))
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(flaky, options(5))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let mut items: Vec<u32> = records.take().into_iter().map(DeadLetter::into_item).collect();
    items.sort_unstable();
    assert_eq!(items, (0..30).step_by(3).collect::<Vec<_>>());
    assert!(calls.load(Ordering::SeqCst) > 3, "the store was retried");
    assert!(started.elapsed() >= Duration::from_millis(30), "three backoffs of 10 ms");
    assert_eq!(report.dead_lettered(), 10);
    assert_eq!(report.delivered(), 20);
    assert_eq!(report.returned(), 0);
    assert_eq!(acked.lock().unwrap().len(), 30, "every item acknowledged");
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_never_recovers_ends_the_run_with_every_unstored_failure_counted() {
    let (inner, records) = memory();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: u32::MAX, calls: calls.clone(), inner };
    let acked = Arc::new(Mutex::new(Vec::new()));
    // An endless source: only the failed store can end this run.
    let err = Pipeline::from_acked(acked_source(&acked, 0..u32::MAX))
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(flaky, options(3).name("errors"))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { stage, error, item, returned, report, .. } = err else { panic!("{err:?}") };
    assert_eq!(stage, "errors");
    match error.downcast_ref::<DeadLetterError>() {
        Some(DeadLetterError::StoreFailed { attempts: 3, source }) => {
            assert_eq!(source.to_string(), "dead-letter store unavailable");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 0, "the first failure's item is returned");
    assert!(records.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one batch tried 3 times; later failures are not tried");
    assert!(returned >= 1);
    assert_eq!(returned, report.returned());
    assert_eq!(returned, report.stage("check").unwrap().failed, "every failure is returned");
    assert_eq!(report.dead_lettered(), 0);
    assert_eq!(report.ending(), Ending::Halted);
    assert!(report.source_items() < 10_000, "intake stopped");
    assert!(report.is_conserved(), "{report}");
    let acked = acked.lock().unwrap();
    assert!(acked.iter().all(|i| i % 3 != 0), "no returned failure is acknowledged: {acked:?}");
    assert_eq!(acked.len() as u64, report.delivered());
}

/// Panics on its first `store`.
struct Panicky;

impl DeadLetterSink<u32> for Panicky {
    type Error = Unavailable;

    async fn store(&mut self, _records: Vec<DeadLetter<u32>>) -> Result<(), StoreError<u32, Unavailable>> {
        panic!("sink bug")
    }

    async fn sync(&mut self) -> Result<(), Unavailable> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_sink_ends_the_run_and_its_failures_are_counted() {
    let err = Pipeline::from_iter(0..10u32)
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter(Panicky)
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, returned, report, .. } = err else { panic!("{err:?}") };
    assert!(
        matches!(error.downcast_ref(), Some(DeadLetterError::SinkPanicked { message }) if message == "sink bug")
    );
    assert!(returned >= 1);
    assert!(report.is_conserved(), "{report}");
}

/// Stores everything but can never sync it to durable storage.
#[derive(Debug)]
struct NoSync;

impl DeadLetterSink<u32> for NoSync {
    type Error = Unavailable;

    async fn store(&mut self, _records: Vec<DeadLetter<u32>>) -> Result<(), StoreError<u32, Unavailable>> {
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), Unavailable> {
        Err(Unavailable)
    }
}

#[tokio::test(start_paused = true)]
async fn a_final_sync_that_keeps_failing_ends_the_run_with_an_error_that_says_so() {
    let err = Pipeline::from_iter(0..10u32)
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(NoSync, options(3))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, returned, report, .. } = err else { panic!("expected a sink error") };
    assert!(
        matches!(error.downcast_ref::<DeadLetterError>(), Some(DeadLetterError::SyncFailed { .. })),
        "{error}"
    );
    assert_eq!(returned, 0, "the records were stored (flushed) and acknowledged");
    assert_eq!((report.delivered(), report.dead_lettered()), (6, 4));
    assert!(report.is_conserved(), "{report}");
}

/// Panics checking the record of item 3; stores the others into memory.
struct PanickyCheck(Memory<u32>);

impl DeadLetterSink<u32> for PanickyCheck {
    type Error = Unavailable;

    fn check(&self, record: &DeadLetter<u32>) -> Result<(), Unavailable> {
        assert_ne!(*record.item(), 3, "check bug");
        Ok(())
    }

    async fn store(&mut self, records: Vec<DeadLetter<u32>>) -> Result<(), StoreError<u32, Unavailable>> {
        self.0.store(records).await.map_err(|e| match e.into_parts().0 {})
    }

    async fn sync(&mut self) -> Result<(), Unavailable> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_check_that_panics_fails_that_record_alone_and_returns_its_item() {
    let (inner, records) = memory();
    let err = Pipeline::from_iter(0..4u32)
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter(PanickyCheck(inner))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, item, returned, report, .. } = err else { panic!("{err:?}") };
    let Some(DeadLetterError::Unstorable { stage, source }) = error.downcast_ref() else {
        panic!("{error:?}")
    };
    assert_eq!(stage, "check");
    assert!(source.to_string().contains("check bug"), "{source}");
    assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 3);
    assert_eq!(returned, 1);
    assert_eq!(records.take().into_iter().map(DeadLetter::into_item).collect::<Vec<_>>(), [0]);
    assert_eq!((report.delivered(), report.dead_lettered()), (2, 1));
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn retries_of_the_dead_letter_store_are_counted_in_the_report() {
    let (inner, records) = memory();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: 2, calls: calls.clone(), inner };
    let report = Pipeline::from_iter(0..3u32)
        .try_map("check", |x| if x == 1 { Err(Three) } else { Ok(x) })
        .dead_letter_with(flaky, options(5))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "stored on the third try");
    let check = report.stage("check").unwrap();
    assert_eq!(check.store_retries, 2, "two retries of one failure's record");
    assert_eq!(check.retries, 0, "the stage's own attempts are not the store's");
    assert_eq!(report.store_retries(), 2);
    assert!(report.to_string().contains("check: 2 retries storing its failures"), "{report}");
}

#[tokio::test(start_paused = true)]
async fn failures_halted_after_the_dead_letter_sink_failed_are_counted_in_its_error() {
    let (inner, _records) = memory();
    let down = Flaky { failures: u32::MAX, calls: Arc::new(AtomicU32::new(0)), inner };
    // Item 3 is slow to fail its second check: the dead-letter sink gives
    // up on item 0 first, then item 3 halts the run.
    let err = Pipeline::from_iter(0..4u32)
        .try_map("check", |x| if x == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(down, options(1))
        .try_then("slow", |x| async move {
            if x == 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Err(Three);
            }
            Ok(x)
        })
        .halt_on_error()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, returned, halted, report, .. } = err else { panic!("{err:?}") };
    assert!(matches!(error.downcast_ref(), Some(DeadLetterError::StoreFailed { .. })), "{error}");
    assert_eq!(halted.len(), 1, "item 3 halted the run after the sink failed");
    assert_eq!(report.returned(), 2);
    assert_eq!(returned, report.returned(), "the error counts what the report counts");
    assert!(report.is_conserved(), "{report}");
}
