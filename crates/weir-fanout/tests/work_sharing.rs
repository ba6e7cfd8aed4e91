//! Work sharing: an item never waits in one worker's hands while another
//! worker is idle, in every mode that shares work (unordered, ordered,
//! keyed across distinct keys), whatever the items cost, from the very
//! first item.
//!
//! Under paused time a fan-out must finish no later than greedy list
//! scheduling does: each item, in input order, starts on the first worker
//! that is free. An item stuck behind a slow one in a worker's batch makes
//! the run longer than that.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::{Instant, sleep};
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_testkit::assert_conserved;

#[derive(Debug, Clone, Copy)]
enum Mode {
    Unordered,
    Ordered,
    /// Every item has a key of its own.
    Keyed,
}

const MODES: [Mode; 3] = [Mode::Unordered, Mode::Ordered, Mode::Keyed];

/// Item `i` costs `costs[i]`: zero completes without waiting.
#[derive(Debug, Clone)]
struct Costly {
    index: usize,
    cost: Duration,
}

/// Runs every item through a fan-out of `workers` with the default
/// capacity, or room for every item when there are more (in ordered mode a
/// slow item holds back finished ones up to the capacity, which is
/// backpressure, tested on its own); returns how long it took and the most
/// operations that ran at once.
async fn run(mode: Mode, workers: usize, costs: &[Duration]) -> (Duration, usize) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let op = move |item: Costly| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            if !item.cost.is_zero() {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                sleep(item.cost).await;
                running.fetch_sub(1, SeqCst);
            }
            Ok::<_, Infallible>(item.index)
        }
    };
    let items: Vec<Costly> = costs.iter().enumerate().map(|(index, &cost)| Costly { index, cost }).collect();
    let n = items.len() as u64;
    let config = FanOut::workers(workers);
    let config = config.capacity(config.capacity_items().max(costs.len()));
    let source = Pipeline::from_iter(items);
    let fanned = match mode {
        Mode::Unordered => source.fan_out("op", config, op),
        Mode::Ordered => source.fan_out("op", config.ordered(), op),
        Mode::Keyed => source.fan_out_keyed("op", config, |item: &Costly| item.index, op),
    };
    let (sink, out) = sink::collect();
    let started = Instant::now();
    let report = fanned.halt_on_error().sink(sink).run().await.expect("runs");
    let elapsed = started.elapsed();
    let mut out = out.take();
    if matches!(mode, Mode::Ordered) {
        assert!(out.is_sorted(), "ordered mode keeps input order");
    }
    out.sort_unstable();
    assert_eq!(out, (0..costs.len()).collect::<Vec<_>>(), "every item once");
    assert_eq!(report.delivered(), n);
    assert_conserved(&report);
    (elapsed, peak.load(SeqCst))
}

/// When greedy list scheduling in input order finishes (each item starts
/// on the worker that is free first), and the most timed items one worker
/// runs then.
fn greedy(workers: usize, costs: &[Duration]) -> (Duration, usize) {
    let mut free_at = vec![(Duration::ZERO, 0); workers];
    for cost in costs {
        let first = free_at.iter_mut().min().expect("at least one worker");
        first.0 += *cost;
        first.1 += usize::from(!cost.is_zero());
    }
    let makespan = free_at.iter().map(|w| w.0).max().unwrap_or_default();
    let chain = free_at.iter().map(|w| w.1).max().unwrap_or_default();
    (makespan, chain)
}

async fn assert_shares(mode: Mode, workers: usize, costs: &[Duration]) {
    let (elapsed, peak) = run(mode, workers, costs).await;
    let (ideal, chain) = greedy(workers, costs);
    // Tokio's timer rounds a sleep up to the next millisecond: each timed
    // item in a worker's chain may end up to 1 ms late.
    let slack = Duration::from_millis(chain as u64 + 1);
    assert!(
        elapsed <= ideal + slack,
        "{mode:?}, {workers} workers: took {elapsed:?}, greedy scheduling takes {ideal:?}"
    );
    let slow = costs.iter().filter(|c| !c.is_zero()).count();
    assert_eq!(peak, slow.min(workers), "{mode:?}: every worker got a slow item while any waited");
}

fn all_slow(n: usize) -> Vec<Duration> {
    vec![Duration::from_millis(100); n]
}

#[tokio::test(start_paused = true)]
async fn the_seeds_job_eight_slow_items_on_four_workers_take_two_rounds() {
    for mode in MODES {
        assert_shares(mode, 4, &all_slow(8)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn twenty_slow_items_on_sixteen_workers_take_two_rounds() {
    for mode in MODES {
        assert_shares(mode, 16, &all_slow(20)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn sixty_four_slow_items_on_sixteen_workers_take_four_rounds() {
    for mode in MODES {
        assert_shares(mode, 16, &all_slow(64)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_of_fast_items_then_slow_ones_still_spreads_the_slow_ones() {
    // The fast items first raise the hand-off size to its largest; the
    // slow ones after them must still be spread from the first one.
    let mut costs = vec![Duration::ZERO; 2000];
    costs.extend(all_slow(12));
    costs.extend(vec![Duration::ZERO; 500]);
    costs.extend(all_slow(7));
    for mode in MODES {
        assert_shares(mode, 4, &costs).await;
    }
}

#[tokio::test(start_paused = true)]
async fn costs_from_microseconds_to_seconds() {
    let costs: Vec<Duration> = (0..40u64)
        .map(|i| match i % 5 {
            0 => Duration::ZERO,
            1 => Duration::from_micros(20),
            2 => Duration::from_millis(3),
            3 => Duration::from_secs(2),
            _ => Duration::from_millis(250),
        })
        .collect();
    for mode in MODES {
        for workers in [2, 3, 8] {
            assert_shares(mode, workers, &costs).await;
        }
    }
}

/// The same on the multi-thread runtime and the real clock: all four
/// workers run at once from the first items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_multi_thread_runtime_every_worker_takes_a_slow_item_at_once() {
    for mode in MODES {
        let (elapsed, peak) = run(mode, 4, &all_slow(8)).await;
        assert_eq!(peak, 4, "{mode:?}: four slow items ran at once");
        // Two rounds of 100 ms; one worker running its batch alone takes 800 ms.
        assert!(elapsed < Duration::from_millis(600), "{mode:?}: took {elapsed:?}");
    }
}

fn cost() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => Just(Duration::ZERO),
        1 => (1..500u64).prop_map(Duration::from_micros),
        2 => (1..50u64).prop_map(Duration::from_millis),
        1 => (1..3u64).prop_map(Duration::from_secs),
    ]
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn any_mix_of_costs_finishes_when_greedy_scheduling_does(
        costs in proptest::collection::vec(cost(), 1..80),
        workers in 1..8usize,
        mode in prop_oneof![Just(Mode::Unordered), Just(Mode::Ordered), Just(Mode::Keyed)],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(assert_shares(mode, workers, &costs));
    }
}
