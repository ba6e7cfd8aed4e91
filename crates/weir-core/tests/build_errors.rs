//! Invalid configurations are rejected when the pipeline is run or spawned,
//! with a typed error that says what to change, and nothing runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::Stream;
use weir_core::prelude::*;
use weir_core::sink;

/// A source that records whether it was ever polled.
fn watched() -> (impl Stream<Item = u64> + Send + 'static, Arc<AtomicBool>) {
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    let source = futures::stream::poll_fn(move |_| {
        flag.store(true, Ordering::SeqCst);
        Poll::Ready(None)
    });
    (source, polled)
}

async fn build_error(make: impl FnOnce(Pipeline<u64>) -> Runnable) -> BuildError {
    let (source, polled) = watched();
    let err = make(Pipeline::new(source)).run().await.unwrap_err();
    assert!(!polled.load(Ordering::SeqCst), "the source was polled although the pipeline is invalid");
    assert!(err.report().is_none());
    match err {
        RunError::Build(e) => e,
        other => panic!("expected a build error, got {other:?}"),
    }
}

#[tokio::test]
async fn zero_batch_size_is_rejected() {
    let err = build_error(|p| p.batch("group", 0, Duration::from_secs(1)).sink(sink::drain())).await;
    assert_eq!(err, BuildError::Zero { stage: "group".into(), what: "max_items" });
    assert!(err.to_string().contains("set it to at least 1"), "{err}");
}

#[tokio::test]
async fn zero_batch_weight_is_rejected() {
    let err =
        build_error(|p| p.batch_weighted("group", 5, 0, Duration::from_secs(1), |_| 1).sink(sink::drain()))
            .await;
    assert_eq!(err, BuildError::Zero { stage: "group".into(), what: "max_weight" });
}

#[tokio::test]
async fn duplicate_stage_names_are_rejected() {
    let err = build_error(|p| p.map("step", |x| x).filter("step", |_| true).sink(sink::drain())).await;
    assert_eq!(err, BuildError::DuplicateName { name: "step".into() });
    assert!(err.to_string().contains("`step`"), "{err}");
}

#[tokio::test]
async fn a_stage_named_like_the_source_or_the_sink_is_rejected() {
    let err = build_error(|p| p.map("source", |x| x).sink(sink::drain())).await;
    assert_eq!(err, BuildError::DuplicateName { name: "source".into() });
    let err = build_error(|p| p.map("out", |x| x).sink_named("out", sink::drain())).await;
    assert_eq!(err, BuildError::DuplicateName { name: "out".into() });
}

#[tokio::test]
async fn empty_names_are_rejected() {
    let err = build_error(|p| p.inspect("", |_| ()).sink(sink::drain())).await;
    assert_eq!(err, BuildError::EmptyName);
    let err = build_error(|p| p.sink_named("", sink::drain())).await;
    assert_eq!(err, BuildError::EmptyName);
}

#[tokio::test]
async fn the_first_error_is_reported() {
    let err =
        build_error(|p| p.map("", |x| x).batch("b", 0, Duration::from_secs(1)).sink(sink::drain())).await;
    assert_eq!(err, BuildError::EmptyName);
}

#[tokio::test]
async fn spawn_rejects_an_invalid_pipeline_and_spawns_nothing() {
    let (source, polled) = watched();
    let err = Pipeline::new(source)
        .batch("group", 0, Duration::from_secs(1))
        .sink(sink::drain())
        .spawn()
        .unwrap_err();
    assert_eq!(err, BuildError::Zero { stage: "group".into(), what: "max_items" });
    tokio::task::yield_now().await;
    assert!(!polled.load(Ordering::SeqCst));
}

/// A sink that must be given a non-empty table name.
struct Table(&'static str);

impl weir_core::Sink<u64> for Table {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _: u64) -> Result<(), SinkError<u64, Self::Error>> {
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        if self.0.is_empty() {
            let message = "the table name is empty; name the table to write to".to_owned();
            return Err(BuildError::Invalid { stage: stage.to_owned(), message });
        }
        Ok(())
    }
}

fn refused(stage: &str) -> BuildError {
    let message = "the table name is empty; name the table to write to".to_owned();
    BuildError::Invalid { stage: stage.into(), message }
}

#[tokio::test]
async fn a_sinks_own_validate_is_checked_wherever_it_is_connected() {
    assert_eq!(build_error(|p| p.sink(Table(""))).await, refused("sink"));
    assert_eq!(build_error(|p| p.sink_named("rows", Table(""))).await, refused("rows"));
    assert_eq!(build_error(|p| p.sink_named("rows", sink::BoxSink::new(Table("")))).await, refused("rows"));
    let route = weir_core::route::from_fn(|failure: Failure<u64, std::convert::Infallible>, _| {
        failure.settle(Settled::Discarded);
        std::future::ready(())
    });
    assert_eq!(build_error(|p| p.sink_routing_failures("rows", Table(""), route)).await, refused("rows"));
    // A valid one runs.
    let report = Pipeline::from_iter(0..3u64).sink(Table("readings")).run().await.unwrap();
    assert_eq!(report.delivered(), 3);
}

#[tokio::test]
async fn spawn_rejects_an_invalid_sink_and_spawns_nothing() {
    let (source, polled) = watched();
    let err = Pipeline::new(source).sink(Table("")).spawn().unwrap_err();
    assert_eq!(err, refused("sink"));
    tokio::task::yield_now().await;
    assert!(!polled.load(Ordering::SeqCst));
}
