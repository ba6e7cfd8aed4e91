//! A failing dead-letter sink is never a silent drop: it is retried, and
//! if it stays down the run ends with a typed error that counts the
//! failures that could not be stored.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink::{self, Collector};
use weir_core::{Sink, SinkError};
use weir_deadletter::{DeadLetter, DeadLetterError, DeadLetterExt, DeadLetterOptions};
use weir_retry::{RetryPolicy, RetrySinkExt};

#[derive(Debug, thiserror::Error)]
#[error("divisible by 3")]
struct Three;

#[derive(Debug, thiserror::Error)]
#[error("dead-letter store unavailable")]
struct Unavailable;

/// Fails its first `failures` sends (giving the record back), then
/// stores into memory.
struct Flaky {
    failures: u32,
    calls: Arc<AtomicU32>,
    inner: Collector<DeadLetter<u32>>,
}

impl Sink<DeadLetter<u32>> for Flaky {
    type Error = Unavailable;

    async fn send(&mut self, record: DeadLetter<u32>) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            return Err(SinkError::with_item(Unavailable, record));
        }
        self.inner.send(record).await.map_err(|e| match e.into_parts().0 {})
    }

    async fn flush(&mut self) -> Result<(), Unavailable> {
        Ok(())
    }
}

/// The store retried by a retry layer of `max_attempts` (10 ms apart),
/// and not again by the stage.
fn retried(flaky: Flaky, max_attempts: u32) -> impl Sink<DeadLetter<u32>> {
    let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(max_attempts);
    flaky.retry(policy)
}

fn once() -> DeadLetterOptions {
    DeadLetterOptions::new().store_attempts(1)
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
    let (inner, records) = sink::collect();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: 3, calls: calls.clone(), inner };
    let acked = Arc::new(Mutex::new(Vec::new()));
    let started = tokio::time::Instant::now();
    let report = Pipeline::from_acked(acked_source(&acked, 0..30))
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(retried(flaky, 5), once())
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
    let (inner, records) = sink::collect();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: u32::MAX, calls: calls.clone(), inner };
    let acked = Arc::new(Mutex::new(Vec::new()));
    // An endless source: only the failed store can end this run.
    let err = Pipeline::from_acked(acked_source(&acked, 0..u32::MAX))
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(retried(flaky, 3), once().name("errors"))
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
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one record tried 3 times; later failures are not tried");
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

/// Panics on its first `send`.
struct Panicky;

impl Sink<DeadLetter<u32>> for Panicky {
    type Error = Unavailable;

    async fn send(
        &mut self,
        _record: DeadLetter<u32>,
    ) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
        panic!("sink bug")
    }

    async fn flush(&mut self) -> Result<(), Unavailable> {
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

/// Stores everything (its flushes of records succeed) but can never sync
/// it to durable storage (its final flush, with nothing new, fails).
#[derive(Debug, Default)]
struct NoSync {
    unflushed: usize,
}

impl Sink<DeadLetter<u32>> for NoSync {
    type Error = Unavailable;

    async fn send(
        &mut self,
        _record: DeadLetter<u32>,
    ) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
        self.unflushed += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Unavailable> {
        if std::mem::take(&mut self.unflushed) == 0 { Err(Unavailable) } else { Ok(()) }
    }
}

#[tokio::test(start_paused = true)]
async fn a_final_sync_that_keeps_failing_ends_the_run_with_an_error_that_says_so() {
    let err = Pipeline::from_iter(0..10u32)
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(NoSync::default(), DeadLetterOptions::new().store_attempts(3))
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

/// Can never take the record of item 3 (it gives it back, classed
/// permanent); stores the others into memory.
struct Picky(Collector<DeadLetter<u32>>);

impl Sink<DeadLetter<u32>> for Picky {
    type Error = Unavailable;

    async fn send(&mut self, record: DeadLetter<u32>) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
        if *record.item() == 3 {
            return Err(SinkError::with_item(Unavailable, record).with_class(ErrorClass::Permanent));
        }
        self.0.send(record).await.map_err(|e| match e.into_parts().0 {})
    }

    async fn flush(&mut self) -> Result<(), Unavailable> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_record_the_store_can_never_take_fails_alone_unretried_and_its_item_is_returned() {
    let (inner, records) = sink::collect();
    let started = tokio::time::Instant::now();
    let err = Pipeline::from_iter(0..4u32)
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter(Picky(inner))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, item, returned, report, .. } = err else { panic!("{err:?}") };
    let Some(DeadLetterError::Unstorable { stage, source }) = error.downcast_ref() else {
        panic!("{error:?}")
    };
    assert_eq!(stage, "check");
    assert!(source.is::<Unavailable>(), "the store's own error: {source}");
    assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 3);
    assert_eq!(returned, 1);
    assert_eq!(started.elapsed(), Duration::ZERO, "not retried");
    assert_eq!(records.take().into_iter().map(DeadLetter::into_item).collect::<Vec<_>>(), [0]);
    assert_eq!((report.delivered(), report.dead_lettered()), (2, 1));
    assert_eq!(report.store_retries(), 0);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn retries_of_the_dead_letter_store_are_counted_in_the_report() {
    let (inner, records) = sink::collect();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: 2, calls: calls.clone(), inner };
    let report = Pipeline::from_iter(0..3u32)
        .try_map("check", |x| if x == 1 { Err(Three) } else { Ok(x) })
        .dead_letter_with(retried(flaky, 5), once())
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
async fn by_default_a_failing_store_is_tried_10_times_50_ms_apart_doubling_and_counted() {
    // Recovers on the tenth try: stored, 9 retries counted.
    let (inner, records) = sink::collect();
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky { failures: 9, calls: calls.clone(), inner };
    let started = tokio::time::Instant::now();
    let report = Pipeline::from_iter(0..3u32)
        .try_map("check", |x| if x == 1 { Err(Three) } else { Ok(x) })
        .dead_letter(flaky)
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!((records.len(), calls.load(Ordering::SeqCst)), (1, 10));
    // 50 + 100 + 200 + 400 + 800 + 1600 + 3200, then 5000 twice (the cap).
    assert_eq!(started.elapsed(), Duration::from_millis(16_350));
    assert_eq!(report.stage("check").unwrap().store_retries, 9);

    // Never recovers: the tenth failure ends the run.
    let (inner, records) = sink::collect();
    let calls = Arc::new(AtomicU32::new(0));
    let down = Flaky { failures: u32::MAX, calls: calls.clone(), inner };
    let err = Pipeline::from_iter(0..3u32)
        .try_map("check", |x| if x == 1 { Err(Three) } else { Ok(x) })
        .dead_letter(down)
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, item, report, .. } = err else { panic!("{err:?}") };
    assert!(
        matches!(error.downcast_ref(), Some(DeadLetterError::StoreFailed { attempts: 10, .. })),
        "{error}"
    );
    assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 1, "the record's item is returned");
    assert_eq!((records.len(), calls.load(Ordering::SeqCst)), (0, 10));
    assert_eq!(report.stage("check").unwrap().store_retries, 9);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn failures_halted_after_the_dead_letter_sink_failed_are_counted_in_its_error() {
    let (inner, _records) = sink::collect();
    let down = Flaky { failures: u32::MAX, calls: Arc::new(AtomicU32::new(0)), inner };
    // Item 3 is slow to fail its second check: the dead-letter sink gives
    // up on item 0 first, then item 3 halts the run.
    let err = Pipeline::from_iter(0..4u32)
        .try_map("check", |x| if x == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(down, once())
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

/// Takes records but can never flush them.
struct NoFlush;

impl Sink<DeadLetter<u32>> for NoFlush {
    type Error = Unavailable;

    async fn send(
        &mut self,
        _record: DeadLetter<u32>,
    ) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Unavailable> {
        Err(Unavailable)
    }
}

#[tokio::test(start_paused = true)]
async fn a_flush_that_fails_for_good_returns_its_records_failures_unacknowledged() {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let err = Pipeline::from_acked(acked_source(&acked, 0..10))
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter_with(NoFlush, DeadLetterOptions::new().store_attempts(2))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, returned, report, .. } = err else { panic!("{err:?}") };
    let Some(DeadLetterError::StoreFailed { attempts: 2, source }) = error.downcast_ref() else {
        panic!("{error:?}")
    };
    assert!(source.is::<Unavailable>());
    assert!(returned >= 1);
    assert_eq!(returned, report.stage("check").unwrap().failed, "every failure is returned");
    assert_eq!(report.dead_lettered(), 0);
    assert!(report.store_retries() >= 1, "the flush was retried: {report}");
    let acked = acked.lock().unwrap();
    assert!(acked.iter().all(|i| i % 3 != 0), "no returned failure is acknowledged: {acked:?}");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_boxed_store_fails_like_the_store_it_boxes() {
    let (inner, records) = sink::collect();
    let store = weir_core::sink::BoxSink::new(Picky(inner));
    let err = Pipeline::from_iter(0..4u32)
        .try_map("check", |x| if x % 3 == 0 { Err(Three) } else { Ok(x) })
        .dead_letter(store)
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { error, item, .. } = err else { panic!("{err:?}") };
    let Some(DeadLetterError::Unstorable { source, .. }) = error.downcast_ref() else { panic!("{error:?}") };
    assert!(source.is::<Unavailable>(), "the boxed store's own error: {source:?}");
    assert_eq!(*item.unwrap().downcast::<u32>().unwrap(), 3);
    assert_eq!(records.len(), 1);
}
