//! Invalid dead-letter settings are a typed build error returned by
//! `run()` and `spawn()` before anything runs, never a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use futures::Stream;
use weir_core::prelude::*;
use weir_core::sink;
use weir_deadletter::{DeadLetterExt, DeadLetterOptions};

#[derive(Debug, thiserror::Error)]
#[error("odd")]
struct Odd;

/// A source of `0..n` that records whether it was ever polled.
fn watched(n: u32) -> (impl Stream<Item = u32> + Send + 'static, Arc<AtomicBool>) {
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    let mut next = 0;
    let source = futures::stream::poll_fn(move |_| {
        flag.store(true, Ordering::SeqCst);
        next += 1;
        Poll::Ready((next <= n).then_some(next - 1))
    });
    (source, polled)
}

fn pipeline(source: impl Stream<Item = u32> + Send + 'static, options: DeadLetterOptions) -> Runnable {
    let (dead, _records) = sink::collect();
    Pipeline::new(source)
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
        .dead_letter_with(dead, options)
        .sink(sink::drain())
}

async fn build_error(options: DeadLetterOptions) -> BuildError {
    let (source, polled) = watched(4);
    let err = pipeline(source, options).run().await.unwrap_err();
    assert!(!polled.load(Ordering::SeqCst), "the source was polled although the pipeline is invalid");
    match err {
        RunError::Build(e) => e,
        other => panic!("expected a build error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_zero_max_batch_is_a_build_error_naming_the_stage() {
    let err = build_error(DeadLetterOptions::new().name("parse-errors").max_batch(0)).await;
    assert_eq!(err, BuildError::Zero { stage: "parse-errors".into(), what: "max_batch" });
    assert!(err.to_string().contains("set it to at least 1"), "{err}");
}

#[tokio::test]
async fn a_max_batch_larger_than_a_queue_is_a_build_error() {
    let err = build_error(DeadLetterOptions::new().max_batch(usize::MAX)).await;
    let BuildError::Invalid { stage, message } = &err else { panic!("{err:?}") };
    assert_eq!(stage, "dead-letter");
    assert!(message.contains(&usize::MAX.to_string()) && message.contains("smaller batch"), "{message}");
}

#[tokio::test]
async fn spawn_rejects_an_invalid_max_batch_and_spawns_nothing() {
    let (source, polled) = watched(4);
    let err = pipeline(source, DeadLetterOptions::new().max_batch(0)).spawn().unwrap_err();
    assert!(matches!(err, BuildError::Zero { what: "max_batch", .. }), "{err:?}");
    tokio::task::yield_now().await;
    assert!(!polled.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_largest_valid_max_batch_runs() {
    let (source, _) = watched(10);
    let max = tokio::sync::Semaphore::MAX_PERMITS;
    let report = pipeline(source, DeadLetterOptions::new().max_batch(max)).run().await.unwrap();
    assert_eq!((report.delivered(), report.dead_lettered()), (5, 5));
    assert!(report.is_conserved(), "{report}");
}

/// A store wrapped in a retry layer with an invalid policy is refused like
/// any invalid setting of the stage, naming the dead-letter stage.
#[tokio::test]
async fn an_invalid_retry_policy_on_the_store_is_a_build_error_naming_the_stage() {
    use weir_retry::{RetryPolicy, RetrySinkExt};

    let policy = RetryPolicy::exponential(std::time::Duration::from_millis(10)).factor(0.5);
    let expected = BuildError::Invalid {
        stage: "parse-errors".into(),
        message: "backoff factor 0.5 is below 1: use a factor of at least 1.0 (1.0 keeps the delay constant)"
            .into(),
    };
    let (source, polled) = watched(4);
    let (dead, records) = sink::collect();
    let err = Pipeline::new(source)
        .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
        .dead_letter_with(
            dead.retry(policy.clone()),
            DeadLetterOptions::new().name("parse-errors").store_attempts(1),
        )
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::Build(e) if *e == expected), "{err:?}");
    assert!(!polled.load(Ordering::SeqCst));
    assert!(records.is_empty());

    // The same for the store of a sink's dead letters.
    use weir_deadletter::SinkDeadLetterExt;
    let (dead, _records) = sink::collect();
    let err = Pipeline::from_iter(0..3u32)
        .sink_dead_lettering_with(
            "rows",
            sink::drain(),
            dead.retry(policy),
            DeadLetterOptions::new().name("parse-errors"),
        )
        .spawn()
        .unwrap_err();
    assert_eq!(err, expected);
}
