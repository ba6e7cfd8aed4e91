//! The seed's example 1 prints what the asyncio program prints, in the same
//! order, on every run, and ends without a sentinel.

mod common;

use std::time::Duration;

use examples::seed_basic::{Log, run};

/// What `python3 seed1.py` (the article's example 1) prints, recorded.
const EXPECTED: [&str; 12] = [
    "Producer adding item 0",
    "Consumer processed item 0",
    "Producer adding item 1",
    "Consumer processed item 1",
    "Producer adding item 2",
    "Producer adding item 3",
    "Consumer processed item 2",
    "Producer adding item 4",
    "Producer finished.",
    "Consumer processed item 3",
    "Consumer processed item 4",
    "Consumer exiting, end of work.",
];

/// How many times the real-clock tests run the scenario (at once, so that
/// the runs also disturb each other's timing).
const RUNS: usize = 20;

#[tokio::test(start_paused = true)]
async fn same_output_as_the_asyncio_program() {
    let log = Log::default();
    let start = tokio::time::Instant::now();
    let report = run(log.clone()).await.expect("runs");
    assert_eq!(log.lines(), EXPECTED);
    // The consumer's 5 x 0.2 s dominate; the producer ran ahead.
    assert_eq!(start.elapsed(), Duration::from_millis(1000));
    assert_eq!(report.delivered(), 5);
    assert!(report.is_conserved());
}

/// Steps due at the same instant (the consumer's and the producer's at
/// 0.2 s and 0.4 s) come in the article's order on the real clock too, on
/// a multi-threaded runtime, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_order_on_the_real_clock_every_time() {
    let runs: Vec<_> = (0..RUNS)
        .map(|_| {
            tokio::spawn(async {
                let log = Log::default();
                run(log.clone()).await.expect("runs");
                log.lines()
            })
        })
        .collect();
    for (i, lines) in futures::future::join_all(runs).await.into_iter().enumerate() {
        assert_eq!(lines.expect("no panic"), EXPECTED, "run {i}");
    }
}

/// `cargo run --example seed_basic`, as a user runs it, prints the
/// article's lines in the article's order every time.
#[test]
fn the_example_prints_the_articles_order_every_time() {
    for (i, lines) in common::run_example("seed_basic", RUNS).iter().enumerate() {
        assert_eq!(lines[..EXPECTED.len()], EXPECTED, "run {i}");
    }
}
