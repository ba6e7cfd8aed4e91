//! Retrying a flaky async dependency with exponential backoff and jitter.
//!
//! Shows a `RetryPolicy` (exponential backoff, full jitter, max attempts,
//! a max elapsed time and a retry budget) wrapped around an async function
//! with `RetryExt::retry`, used twice: standalone, like `backon`, and inside
//! a fan-out, where waiting items are parked without holding a worker and
//! the items that still fail are dead-lettered and counted in the report.
//! Every retry decision is a `tracing` event, printed here by
//! `tracing-subscriber` (set `RUST_LOG` to change the filter).
//!
//! Run it with:
//!
//! ```text
//! cargo run -p examples --example retry_backoff
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use weir::prelude::*;
use weir::sink;
use weir_retry::{Jitter, RetryBudget, RetryExt, RetryPolicy};

/// The error of the flaky dependency.
#[derive(Debug, thiserror::Error)]
#[error("service unavailable (call #{call})")]
struct Unavailable {
    call: u32,
}

/// A dependency that fails item `n` on its first `n % 4` calls, and item 7
/// on every call.
fn flaky_dependency() -> impl Fn(u32) -> std::future::Ready<Result<u32, Unavailable>> + Clone + Send + Sync {
    let calls = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<u32, u32>::new()));
    let total = Arc::new(AtomicU32::new(0));
    move |item: u32| {
        let call = total.fetch_add(1, Ordering::SeqCst) + 1;
        let mut calls = calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = calls.entry(item).or_default();
        *seen += 1;
        let fails = if item == 7 { u32::MAX } else { item % 4 };
        std::future::ready(if *seen <= fails { Err(Unavailable { call }) } else { Ok(item * 100) })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("weir_retry=debug,weir_fanout=info")),
        )
        .without_time()
        .with_ansi(false)
        .init();

    let policy = RetryPolicy::exponential(Duration::from_millis(20))
        .factor(2.0)
        .cap(Duration::from_millis(200))
        .jitter(Jitter::Full)
        .max_attempts(4)
        .max_elapsed(Duration::from_secs(2))
        .budget(RetryBudget::new(0.5, Duration::from_secs(10), 5));
    let op = flaky_dependency().retry(policy);

    // Standalone: one call, retried until it succeeds.
    println!("-- standalone call");
    let out = op.call(3).await?;
    println!("item 3 -> {out}");

    // In a pipeline: a fan-out of 2 workers runs the retried operation; an
    // item waiting for its backoff is parked on a timer while its worker
    // serves other items. Items that still fail after their retries are
    // dead-lettered whole, and the report counts the retries.
    println!("-- pipeline");
    let (sink, delivered) = sink::collect();
    let (dead, dead_letters) = sink::collect();
    let report = Pipeline::from_iter(4..=10)
        .fan_out("call", FanOut::workers(2).capacity(8), op)
        .dead_letter(dead)
        .sink(sink)
        .run()
        .await?;
    for record in dead_letters.take() {
        println!(
            "dead letter: item {} after {} attempts: {}",
            record.item(),
            record.attempts(),
            record.error()
        );
    }
    println!("delivered: {:?}", delivered.take());
    println!("{report}");
    Ok(())
}
