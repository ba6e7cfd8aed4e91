//! Any duration a user can pass works, under paused time: a timeout of
//! `Duration::MAX` (or of 30 years or more) never fires, and retry
//! delays, caps, `Retry-After`, `max_elapsed` and budget windows of
//! `Duration::MAX` do not panic.

mod common;

use std::time::Duration;

use common::{Scripted, TestError};
use tokio::time::Instant;
use weir_core::Sink;
use weir_core::operation::call;
use weir_core::prelude::*;
use weir_retry::{RetryBudget, RetryExt, RetryPolicy, RetrySinkExt, TimeoutExt};

const HOUR: Duration = Duration::from_secs(3600);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// Timeouts meaning "never": the longest duration that can be added to
/// now (frozen under paused time; tokio's timer rounds such a deadline up
/// by a millisecond, which overflows), 30 years and `Duration::MAX`.
fn never() -> [Duration; 3] {
    let now = Instant::now();
    let (mut fits, mut overflows) = (Duration::ZERO, Duration::MAX);
    while overflows - fits > Duration::from_nanos(1) {
        let mid = fits + (overflows - fits) / 2;
        if now.checked_add(mid).is_some() {
            fits = mid;
        } else {
            overflows = mid;
        }
    }
    [fits, weir_core::time::NEVER_AFTER, Duration::MAX]
}

/// Takes an hour for item 1, hangs on item 2.
async fn slow_or_hung(x: u32) -> Result<u32, TestError> {
    match x {
        1 => tokio::time::sleep(HOUR).await,
        2 => std::future::pending().await,
        _ => {}
    }
    Ok(x)
}

#[tokio::test(start_paused = true)]
async fn a_timeout_meaning_never_lets_slow_attempts_finish_and_never_fires() {
    for limit in never() {
        let op = slow_or_hung.timeout(limit);
        assert_eq!(call(&op, 1).await.unwrap(), 1, "limit {limit:?}");
        let hung = tokio::time::timeout(40 * YEAR, call(&op, 2)).await;
        assert!(hung.is_err(), "limit {limit:?}: the attempt was still running after 40 years");
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_meaning_never_lets_slow_attempts_finish_and_never_fires() {
    for limit in never() {
        let policy = RetryPolicy::constant(Duration::ZERO);
        let op = slow_or_hung.timeout(limit).retry(policy);
        assert_eq!(op.call(1).await.unwrap(), 1, "limit {limit:?}");
        let hung = tokio::time::timeout(40 * YEAR, op.call(2)).await;
        assert!(hung.is_err(), "limit {limit:?}: the attempt was still running after 40 years");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_delays_caps_and_limits_of_duration_max_do_not_panic() {
    let asks_forever = TestError { retry_after: Some(Duration::MAX), ..TestError::TRANSIENT };
    let budget = RetryBudget::new(1.0, Duration::MAX, 1);
    let policies = [
        RetryPolicy::constant(Duration::MAX).max_attempts(2),
        RetryPolicy::exponential(Duration::from_secs(1)).cap(Duration::MAX).max_attempts(80),
        RetryPolicy::constant(Duration::ZERO).cap(Duration::MAX).max_attempts(2),
        RetryPolicy::constant(Duration::ZERO).max_elapsed(Duration::MAX).budget(budget),
    ];
    for policy in policies {
        let op = Scripted::failing(1, asks_forever);
        let start = Instant::now();
        assert_eq!(op.clone().retry(policy.clone()).call(5).await.unwrap(), 5, "{policy:?}");
        assert_eq!(op.attempts(), 2);
        assert!(start.elapsed() <= 30 * YEAR, "{policy:?}: the retry came after {:?}", start.elapsed());
    }
}

/// Locked for the first send.
#[derive(Debug, thiserror::Error)]
#[error("database is locked")]
struct Locked;

#[derive(Debug, Default)]
struct Db {
    tried: bool,
    rows: Vec<u32>,
}

impl Sink<u32> for Db {
    type Error = Locked;

    async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Locked>> {
        if !std::mem::replace(&mut self.tried, true) {
            return Err(SinkError::with_item(Locked, row));
        }
        self.rows.push(row);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Locked> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_retried_after_duration_max_does_not_panic() {
    let policy = RetryPolicy::constant(Duration::MAX).max_attempts(2);
    let report = Pipeline::from_iter([7u32]).sink(Db::default().retry(policy)).run().await.unwrap();
    assert_eq!(report.delivered(), 1);
}
