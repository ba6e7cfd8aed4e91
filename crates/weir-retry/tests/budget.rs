//! The retry budget under a dependency that always fails.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Scripted, TestError, ms};
use futures::future::join_all;
use weir_core::Cause;
use weir_retry::{RetryBudget, RetryExt, RetryPolicy};

/// `items` items, `per_tick` at a time every 100 ms, through an operation
/// that always fails; returns the operation and the failures' causes.
async fn run_against_outage(budget: RetryBudget, items: u32, per_tick: u32) -> (Scripted, Vec<bool>) {
    let op = Scripted::always(TestError::TRANSIENT);
    let policy = RetryPolicy::constant(ms(10)).max_attempts(5).budget(budget);
    let retry = Arc::new(op.clone().retry(policy));
    let mut calls = Vec::new();
    for i in 0..items {
        let retry = Arc::clone(&retry);
        calls.push(tokio::spawn(async move { retry.call(i).await }));
        if (i + 1) % per_tick == 0 {
            tokio::time::sleep(ms(100)).await;
        }
    }
    let mut budget_exhausted = Vec::new();
    for result in join_all(calls).await {
        let err = result.unwrap().unwrap_err().into_exhausted().unwrap();
        budget_exhausted.push(matches!(err.cause, Cause::GaveUp { reason: RetryBudget::EXHAUSTED, .. }));
    }
    (op, budget_exhausted)
}

#[tokio::test(start_paused = true)]
async fn outage_retries_stay_within_ratio_times_first_attempts() {
    // 10 % over a 60 s window (longer than the test), no floor.
    let budget = RetryBudget::new(0.1, Duration::from_secs(60), 0);
    let items = 200;
    let (op, exhausted) = run_against_outage(budget, items, 10).await;
    let retries = op.attempts() - items as usize;
    assert!(retries <= 20, "{retries} retries for {items} first attempts at 10 %");
    assert!(retries >= 15, "the budget should let most of its 20 retries through, got {retries}");
    let exhausted = exhausted.iter().filter(|b| **b).count();
    assert!(exhausted > 150, "most items fail with the budget exhausted, got {exhausted}");
    // Without the budget, every item would have made 5 attempts.
}

#[tokio::test(start_paused = true)]
async fn the_floor_allows_retries_without_traffic() {
    // Ratio 0, floor 1/s over 5 s: 5 retries whatever the traffic.
    let budget = RetryBudget::new(0.0, Duration::from_secs(5), 1);
    let (op, _) = run_against_outage(budget, 20, 20).await;
    assert_eq!(op.attempts() - 20, 5);
}

#[tokio::test(start_paused = true)]
async fn budget_refills_as_the_window_slides() {
    let budget = RetryBudget::new(0.5, Duration::from_secs(1), 0);
    let (op, _) = run_against_outage(budget.clone(), 10, 10).await;
    let first_burst = op.attempts() - 10;
    assert!(first_burst <= 5);
    assert!(!budget.withdraw(), "spent");
    tokio::time::advance(Duration::from_secs(2)).await;
    let (op, _) = run_against_outage(budget, 10, 10).await;
    assert_eq!(op.attempts() - 10, first_burst, "a fresh window allows as many again");
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_every_item_uses_all_attempts() {
    // The control for the tests above.
    let op = Scripted::always(TestError::TRANSIENT);
    let retry = op.clone().retry(RetryPolicy::constant(ms(10)).max_attempts(5));
    for i in 0..20 {
        assert!(retry.call(i).await.is_err());
    }
    assert_eq!(op.attempts(), 100);
}
