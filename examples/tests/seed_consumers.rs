//! The seed's example 2: every item processed exactly once, by all three
//! consumers in turn, every consumer ended (each saying so when its worker
//! stops, in the asyncio program's order), no sentinel, and the time the
//! asyncio program takes.

mod common;

use std::time::Duration;

use examples::seed_consumers::{Processed, Scenario, run};

#[tokio::test(start_paused = true)]
async fn three_consumers_share_the_items_and_all_end() {
    let scenario = Scenario::default();
    let outcome = run(scenario).await.expect("runs");

    // Every item exactly once.
    let mut items: Vec<u32> = outcome.processed.iter().map(|p| p.item).collect();
    items.sort_unstable();
    assert_eq!(items, (0..10).collect::<Vec<_>>());

    // Items go to the consumers in turn, each as soon as the producer makes it
    // (item i at i x 0.1 s), as asyncio's queue hands them out.
    let mut processed = outcome.processed.clone();
    processed.sort_by_key(|p| p.item);
    let expected: Vec<Processed> = (0..10u32)
        .map(|item| Processed {
            item,
            consumer: item as usize % 3,
            at: Duration::from_millis(100 * u64::from(item)),
        })
        .collect();
    assert_eq!(processed, expected);

    // All three consumers were used, and each said it exited when its
    // worker stopped: the idle ones (1 and 2) when the stream ended at 1 s,
    // consumer 0 after its last item, at 1.1 s, as in the asyncio program.
    let ms = Duration::from_millis;
    assert_eq!(outcome.exited, [(1, ms(1000)), (2, ms(1000)), (0, ms(1100))]);
    let mut lines: Vec<String> =
        (0..10).map(|item| format!("Consumer {} processed item {item}", item % 3)).collect();
    lines.extend([1, 2, 0].map(|c| format!("Consumer {c} exiting.")));
    assert_eq!(outcome.lines, lines);
    // No task of the pipeline is left behind: no zombie waiting for a sentinel.
    assert_eq!(tokio::runtime::Handle::current().metrics().num_alive_tasks(), 0);

    // The last item is made at 0.9 s and takes 0.2 s: 1.1 s in all.
    let last_made = scenario.produce_every * (scenario.items - 1);
    assert_eq!(outcome.elapsed, last_made + scenario.work);
    assert_eq!(outcome.elapsed, Duration::from_millis(1100));

    assert_eq!(outcome.report.delivered(), 10);
    assert!(outcome.report.is_conserved());
}

/// `cargo run --example seed_consumers`, as a user runs it, prints the
/// article's lines in the article's order every time, each consumer's exit
/// when its worker stops.
#[test]
fn the_example_prints_the_articles_order_every_time() {
    let mut expected: Vec<String> =
        (0..10).map(|item| format!("Consumer {} processed item {item}", item % 3)).collect();
    expected.extend([1, 2, 0].map(|c| format!("Consumer {c} exiting.")));
    for (i, lines) in common::run_example("seed_consumers", 10).iter().enumerate() {
        assert_eq!(lines[..expected.len()], expected, "run {i}");
    }
}
