//! Each decision emits a tracing event with the attempt, the delay or the
//! reason, and the error.

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::{Scripted, TestError, ms};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use weir_core::ErrorClass;
use weir_retry::{RetryExt, RetryPolicy};

/// Records every event as one line of `field=value` pairs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn retries_and_give_ups_are_traced() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let op = Scripted::always(TestError::TRANSIENT);
    let policy = RetryPolicy::exponential(ms(100)).max_attempts(3);
    op.retry(policy).call(1).await.unwrap_err();

    let lines = capture.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("attempt failed, retrying"), "{}", lines[0]);
    assert!(lines[0].contains("attempt=1") && lines[0].contains("delay=100ms"), "{}", lines[0]);
    assert!(lines[0].contains("error=transient test error"), "{}", lines[0]);
    assert!(lines[1].contains("attempt=2") && lines[1].contains("delay=200ms"), "{}", lines[1]);
    assert!(lines[2].contains("giving up") && lines[2].contains("attempt=3"), "{}", lines[2]);
    assert!(lines[2].contains("reason=\"max attempts reached\""), "{}", lines[2]);
}

#[tokio::test(start_paused = true)]
async fn permanent_give_up_is_traced_with_its_class() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let op = Scripted::always(TestError::of(ErrorClass::Poison));
    let policy = RetryPolicy::constant(ms(1));
    op.retry(policy).classify_by_trait().call(1).await.unwrap_err();

    let lines = capture.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("class=\"poison\"") && lines[0].contains("giving up"), "{}", lines[0]);
}
