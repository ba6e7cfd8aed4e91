//! Classification is the layer's, where the error type is known: one
//! `RetryPolicy` type for every policy, so a struct field or a parameter
//! typed `RetryPolicy` takes any of them.

mod common;

use std::time::Duration;

use common::{Scripted, TestError, ms};
use weir_core::Sink;
use weir_core::prelude::*;
use weir_retry::{RetryExt, RetryPolicy, RetrySinkExt};

/// A program's settings, as read from a file: one policy, whatever the
/// errors of the operations it will retry.
struct Settings {
    policy: RetryPolicy,
}

fn settings() -> Settings {
    Settings { policy: RetryPolicy::constant(ms(10)).max_attempts(4) }
}

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct Status(u16);

#[tokio::test(start_paused = true)]
async fn one_policy_field_serves_every_classification() {
    let settings = settings();

    // Every error retried (the default).
    let op = Scripted::always(TestError::of(ErrorClass::Permanent));
    let err = op.clone().retry(settings.policy.clone()).call(1).await.unwrap_err().into_exhausted().unwrap();
    assert_eq!((op.attempts(), err.class), (4, ErrorClass::Transient));

    // The error's own `Classify` impl.
    let op = Scripted::always(TestError::of(ErrorClass::Permanent));
    let err = op
        .clone()
        .retry(settings.policy.clone())
        .classify_by_trait()
        .call(1)
        .await
        .unwrap_err()
        .into_exhausted()
        .unwrap();
    assert_eq!((op.attempts(), err.class), (1, ErrorClass::Permanent));

    // A closure over the error, which needs no type annotation.
    let get = |code: u16| async move { Err::<(), _>(Status(code)) };
    let retried = get
        .retry(settings.policy)
        .classify(|e| if e.0 >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent });
    assert_eq!(retried.call(404).await.unwrap_err().into_exhausted().unwrap().attempts, 1);
    assert_eq!(retried.call(503).await.unwrap_err().into_exhausted().unwrap().attempts, 4);
}

#[derive(Debug, thiserror::Error)]
enum DbError {
    #[error("database is locked")]
    Locked,
    #[error("constraint violated")]
    Constraint,
}

/// Gives every row back with `error`; counts sends.
struct Refusing {
    error: fn() -> DbError,
    sends: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Sink<u32> for Refusing {
    type Error = DbError;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, DbError>> {
        self.sends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(SinkError::with_item((self.error)(), row))
    }

    async fn flush(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_layer_classifies_its_sinks_errors() {
    let cases: [(fn() -> DbError, u32); 2] = [(|| DbError::Locked, 4), (|| DbError::Constraint, 1)];
    for (error, sends) in cases {
        let counted = std::sync::Arc::default();
        let db = Refusing { error, sends: std::sync::Arc::clone(&counted) };
        let store = db.retry(settings().policy).classify(|e| match e {
            DbError::Locked => ErrorClass::Transient,
            DbError::Constraint => ErrorClass::Permanent,
        });
        let err = Pipeline::from_iter([7u32]).sink(store).run().await.unwrap_err();
        assert!(matches!(err, RunError::Sink { .. }), "{err:?}");
        assert_eq!(counted.load(std::sync::atomic::Ordering::SeqCst), sends);
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_layer_honours_the_errors_own_classification() {
    let sends = std::sync::Arc::default();
    let db = Refusing { error: || DbError::Constraint, sends: std::sync::Arc::clone(&sends) };
    let start = tokio::time::Instant::now();
    let _ = Pipeline::from_iter([7u32]).sink(db.retry(settings().policy).classify_by_trait()).run().await;
    assert_eq!(sends.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

impl weir_core::Classify for DbError {
    fn class(&self) -> ErrorClass {
        match self {
            DbError::Locked => ErrorClass::Transient,
            DbError::Constraint => ErrorClass::Permanent,
        }
    }
}
