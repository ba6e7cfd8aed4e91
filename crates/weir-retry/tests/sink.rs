//! A sink's retry layer: its retries are counted in the sink stage's report.

use std::time::Duration;

use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::{BuildError, ErrorClass, Sink};
use weir_retry::{RetryPolicy, RetrySinkExt};

#[derive(Debug, thiserror::Error)]
#[error("database is locked")]
struct Locked;

/// Refuses each row the first time it is sent, and its first flush.
#[derive(Debug, Default)]
struct Shy {
    tried: Vec<u32>,
    flushes: u32,
}

impl Sink<u32> for Shy {
    type Error = Locked;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Locked>> {
        if self.tried.contains(&row) {
            return Ok(());
        }
        self.tried.push(row);
        Err(SinkError::with_item(Locked, row))
    }

    async fn flush(&mut self) -> Result<(), Locked> {
        self.flushes += 1;
        if self.flushes == 1 { Err(Locked) } else { Ok(()) }
    }
}

#[tokio::test(start_paused = true)]
async fn sink_retries_are_counted_in_the_report_like_a_stages() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3);
    // One item per flush: each item's send is retried once, and the first
    // flush (of item 0) once.
    let source = futures::stream::iter(0..3u32).then(|x| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        x
    });
    let report = Pipeline::new(source).sink(Shy::default().retry(policy)).run().await.unwrap();
    let sink = report.stage("sink").unwrap();
    assert_eq!(sink.delivered, 3);
    assert_eq!(sink.retries, 4, "3 sends and 1 flush retried once");
    assert_eq!(sink.retried, 3, "each item needed a retry (item 0: its send and its flush)");
    assert_eq!(sink.attempts[0], 3, "each send took 2 attempts");
    assert_eq!(report.retries(), 4);
    assert!(report.to_string().contains("sink: 4 retries"), "{report}");
}

/// Takes rows once its flush has failed `fails` times; counts flushes.
#[derive(Debug)]
struct FlushFails {
    fails: u32,
}

impl Sink<u32> for FlushFails {
    type Error = Locked;

    async fn send(&mut self, _: u32) -> Result<(), SinkError<u32, Locked>> {
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Locked> {
        if self.fails > 0 {
            self.fails -= 1;
            return Err(Locked);
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_retried_flush_counts_a_retry_for_each_item_it_covers() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3);
    let report =
        Pipeline::from_iter(0..4u32).sink(FlushFails { fails: 2 }.retry(policy)).run().await.unwrap();
    let sink = report.stage("sink").unwrap();
    assert_eq!((sink.delivered, sink.retried, sink.retries), (4, 4, 8));
}

#[tokio::test(start_paused = true)]
async fn a_boxed_retrying_sink_still_reports_its_retries() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3);
    let boxed = weir_core::sink::BoxSink::new(FlushFails { fails: 1 }.retry(policy));
    let report = Pipeline::from_iter(0..4u32).sink(boxed).run().await.unwrap();
    let sink = report.stage("sink").unwrap();
    assert_eq!((sink.delivered, sink.retried, sink.retries), (4, 4, 4));
}

/// Refuses odd rows for good (class permanent); counts every send.
#[derive(Debug, Default)]
struct Strict {
    sends: std::sync::Arc<std::sync::Mutex<u32>>,
}

impl Sink<u32> for Strict {
    type Error = Locked;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Locked>> {
        *self.sends.lock().unwrap() += 1;
        if row % 2 == 1 {
            return Err(SinkError::with_item(Locked, row).with_class(weir_core::ErrorClass::Permanent));
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Locked> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_item_the_sink_can_never_take_is_not_retried_and_keeps_its_class() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(5);
    let strict = Strict::default();
    let sends = strict.sends.clone();
    let err = Pipeline::from_iter(0..3u32).sink(strict.retry(policy)).run().await.unwrap_err();
    let RunError::Sink { item, report, .. } = err else { panic!("{err:?}") };
    assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|b| *b), Some(1));
    assert_eq!(*sends.lock().unwrap(), 2, "rows 0 and 1, each sent once");
    assert_eq!(report.stage("sink").unwrap().retries, 0);
}

/// An invalid policy on a sink's retry layer is a typed build error naming
/// the sink's stage, before anything runs, boxed or not.
#[tokio::test(start_paused = true)]
async fn an_invalid_policy_on_a_sink_is_a_build_error() {
    let policy = RetryPolicy::constant(Duration::from_millis(5)).max_attempts(0);
    let expected = BuildError::Invalid {
        stage: "rows".to_owned(),
        message: "max_attempts is 0: allow at least 1 attempt (1 means no retries)".to_owned(),
    };
    let (collect, rows) = weir_core::sink::collect();
    let err = Pipeline::from_iter(0..3u32)
        .sink_named("rows", collect.retry(policy.clone()))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::Build(e) if *e == expected), "{err:?}");
    assert!(rows.is_empty());

    let boxed = weir_core::sink::BoxSink::new(
        Shy::default().retry(policy.clone()).classify(|_| ErrorClass::Transient),
    );
    let err = Pipeline::from_iter(0..3u32).sink_named("rows", boxed).spawn().unwrap_err();
    assert_eq!(err, expected);

    // Outside a pipeline, the layer reports it the same way.
    assert_eq!(weir_core::Sink::<u32>::validate(&Shy::default().retry(policy), "rows"), Err(expected));
}
