//! A sink's failures: retried by the sink's retry layer, then stored as
//! dead letters with their item, while the rest of the run goes on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_core::prelude::*;
use weir_core::{Sink, SinkError, sink};
use weir_deadletter::{DeadLetter, SinkDeadLetterExt};
use weir_retry::{RetryPolicy, RetrySinkExt};

#[derive(Debug, thiserror::Error)]
#[error("row {0} is refused")]
struct Refused(u32);

/// Refuses every multiple of 4, every time; counts the attempts.
#[derive(Debug, Default)]
struct Table {
    rows: Vec<u32>,
    attempts: Arc<Mutex<Vec<u32>>>,
}

impl Sink<u32> for Table {
    type Error = Refused;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Refused>> {
        self.attempts.lock().unwrap().push(row);
        if row.is_multiple_of(4) {
            return Err(SinkError::with_item(Refused(row), row));
        }
        self.rows.push(row);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn refused_rows_are_retried_then_dead_lettered_and_the_rest_is_delivered() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let table = Table { rows: Vec::new(), attempts: attempts.clone() };
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let log = acked.clone();
    let source = futures::stream::iter((0..10u32).map(move |i| {
        let log = log.clone();
        (i, Ack::new(move || log.lock().unwrap().push(i)))
    }));
    let (dead, records) = sink::collect();

    let report = Pipeline::from_acked(source)
        .sink_dead_lettering("table", table.retry(policy), dead)
        .run()
        .await
        .unwrap();

    let records = records.take();
    let dead: Vec<u32> = records.iter().map(|r| *r.item()).collect();
    assert_eq!(dead, [0, 4, 8]);
    assert!(
        records.iter().all(|r| r.stage() == "table" && r.error() == format!("row {} is refused", r.item()))
    );
    let tries = attempts.lock().unwrap();
    for row in 0..10u32 {
        let expected = if row.is_multiple_of(4) { 3 } else { 1 };
        assert_eq!(tries.iter().filter(|r| **r == row).count(), expected, "attempts of row {row}");
    }
    assert_eq!((report.delivered(), report.dead_lettered()), (7, 3));
    assert!(report.is_conserved(), "{report}");
    let mut acked = acked.lock().unwrap().clone();
    acked.sort();
    assert_eq!(acked, (0..10).collect::<Vec<_>>(), "dead-lettered rows are acknowledged once stored");
}

#[tokio::test(start_paused = true)]
async fn without_a_route_a_refused_row_ends_the_run_with_its_item() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(2);
    let err = Pipeline::from_iter(1..10u32).sink(Table::default().retry(policy)).run().await.unwrap_err();
    let RunError::Sink { stage, item, returned, report, .. } = err else { panic!("expected a sink error") };
    assert_eq!((stage.as_str(), returned), ("sink", 1));
    assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|b| *b), Some(4));
    assert_eq!(report.delivered(), 3);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_dead_lettered_rows_record_and_the_report_count_the_sinks_retries() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3);
    let (dead, records) = sink::collect();
    let report = Pipeline::from_iter(0..10u32)
        .sink_dead_lettering("table", Table::default().retry(policy), dead)
        .run()
        .await
        .unwrap();
    for r in records.take() {
        assert_eq!(r.attempts(), 3, "row {}", r.item());
        let span = r.last_failed_at().duration_since(r.first_failed_at()).unwrap();
        assert_eq!(span, Duration::from_millis(10), "row {}: 3 failures, 5 ms apart", r.item());
    }
    let table = report.stage("table").unwrap();
    assert_eq!((table.failed, table.retried, table.retries), (3, 3, 6));
    assert_eq!(table.attempts[1], 3, "three rows took 3 attempts");
    assert_eq!(report.retries(), 6);
    assert!(report.is_conserved(), "{report}");
}

#[derive(Debug, thiserror::Error)]
#[error("dead-letter store unavailable")]
struct Unavailable;

/// A dead-letter store that is always down; counts its calls.
struct Down(Arc<Mutex<u32>>);

impl Sink<DeadLetter<u32>> for Down {
    type Error = Unavailable;

    async fn send(&mut self, record: DeadLetter<u32>) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
        *self.0.lock().unwrap() += 1;
        Err(SinkError::with_item(Unavailable, record))
    }

    async fn flush(&mut self) -> Result<(), Unavailable> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_sinks_dead_letters_take_the_same_options_as_a_stages() {
    use weir_deadletter::{DeadLetterError, DeadLetterOptions};

    let calls = Arc::new(Mutex::new(0));
    let options = DeadLetterOptions::new().name("refused-rows").store_attempts(2);
    let err = Pipeline::from_iter(0..10u32)
        .sink_dead_lettering_with("table", Table::default(), Down(calls.clone()), options)
        .run()
        .await
        .unwrap_err();
    let RunError::Sink { stage, error, report, .. } = err else { panic!("{err:?}") };
    assert_eq!(stage, "refused-rows", "the options' name");
    let Some(DeadLetterError::StoreFailed { attempts, .. }) = error.downcast_ref() else {
        panic!("{error:?}")
    };
    assert_eq!((*attempts, *calls.lock().unwrap()), (2, 2), "the options' store attempts");
    assert!(report.is_conserved(), "{report}");

    let (dead, _) = sink::collect();
    let err = Pipeline::from_iter(0..10u32)
        .sink_dead_lettering_with("table", Table::default(), dead, DeadLetterOptions::new().max_batch(0))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Build(BuildError::Zero { what: "max_batch", .. })), "{err:?}");
}
