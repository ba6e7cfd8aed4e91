//! The seed's example 1 prints what the asyncio program prints, in the same
//! order, and ends without a sentinel.

use std::time::Duration;

use examples::seed_basic::{Log, run};

#[tokio::test(start_paused = true)]
async fn same_output_as_the_asyncio_program() {
    let log = Log::default();
    let start = tokio::time::Instant::now();
    let report = run(log.clone()).await.expect("runs");
    // What `python3 seed1.py` (the article's example 1) prints, recorded.
    let expected = [
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
    assert_eq!(log.lines(), expected);
    // The consumer's 5 x 0.2 s dominate; the producer ran ahead.
    assert_eq!(start.elapsed(), Duration::from_millis(1000));
    assert_eq!(report.delivered(), 5);
    assert!(report.is_conserved());
}
