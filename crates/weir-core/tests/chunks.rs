//! Property: chunks change how items move, never what happens to them.
//! Whatever the source's readiness (items ready in runs of any length,
//! with waits between) and whatever the chain of inline stages, the items
//! delivered, filtered and failed are the ones a one-item-at-a-time model
//! predicts, in input order, every stage's counters agree with the model,
//! and the report is conserved.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Bad;
use futures::Stream;
use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;

/// An inline stage of the chain under test.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `map`: adds this.
    Add(u64),
    /// `filter`: drops multiples of this (≥ 2).
    DropMultiples(u64),
    /// `try_map` or `try_map_ref`, its failures routed to a handler that
    /// writes them down: fails items whose value has this residue modulo 7.
    Fail { residue: u64, by_ref: bool },
    /// `inspect`: writes down what passes.
    Inspect,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0..1000u64).prop_map(Step::Add),
        (2..6u64).prop_map(Step::DropMultiples),
        (0..7u64, any::<bool>()).prop_map(|(residue, by_ref)| Step::Fail { residue, by_ref }),
        Just(Step::Inspect),
    ];
    proptest::collection::vec(step, 0..6)
}

/// What the model predicts for each stage: items in, items out.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    delivered: Vec<u64>,
    filtered: u64,
    /// Failed items, by the step where they failed, in the order routed.
    failed: Vec<Vec<u64>>,
    /// Items emitted by each step, in order.
    emitted: Vec<u64>,
    /// Items each `inspect` saw, by step (across stages, chunks interleave
    /// side effects differently; within a stage, the order is the input's).
    inspected: Vec<Vec<u64>>,
}

fn model(items: &[u64], steps: &[Step]) -> Expected {
    let mut out = Expected {
        emitted: vec![0; steps.len()],
        failed: vec![Vec::new(); steps.len()],
        inspected: vec![Vec::new(); steps.len()],
        ..Expected::default()
    };
    'item: for &item in items {
        let mut x = item;
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Add(n) => x = x.wrapping_add(n),
                Step::DropMultiples(m) if x.is_multiple_of(m) => {
                    out.filtered += 1;
                    continue 'item;
                }
                Step::Fail { residue, .. } if x % 7 == residue => {
                    out.failed[i].push(x);
                    continue 'item;
                }
                Step::Inspect => out.inspected[i].push(x),
                Step::DropMultiples(_) | Step::Fail { .. } => {}
            }
            out.emitted[i] += 1;
        }
        out.delivered.push(x);
    }
    out
}

/// The items, ready in runs: after each item, the source waits (a yield
/// to the runtime) when `waits` says so, so chunks end there.
fn source(items: Vec<u64>, waits: Vec<bool>) -> impl Stream<Item = u64> + Send + 'static {
    async_stream::stream! {
        for (i, item) in items.into_iter().enumerate() {
            yield item;
            if waits.get(i).copied().unwrap_or(false) {
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn run(items: Vec<u64>, waits: Vec<bool>, steps: &[Step], batch: usize) -> (Report, Expected) {
    let inspected = Arc::new(Mutex::new(vec![Vec::new(); steps.len()]));
    let failed = Arc::new(Mutex::new(vec![Vec::new(); steps.len()]));
    let mut pipeline = Pipeline::new(source(items, waits));
    for (i, step) in steps.iter().enumerate() {
        let name = format!("step-{i}");
        pipeline = match *step {
            Step::Add(n) => pipeline.map(&name, move |x| x.wrapping_add(n)),
            Step::DropMultiples(m) => pipeline.filter(&name, move |x| !x.is_multiple_of(m)),
            Step::Inspect => {
                let seen = inspected.clone();
                pipeline.inspect(&name, move |x| seen.lock().unwrap()[i].push(*x))
            }
            Step::Fail { residue, by_ref } => {
                let check = move |x: &u64| if x % 7 == residue { Err(Bad(*x)) } else { Ok(*x) };
                let fallible = if by_ref {
                    pipeline.try_map_ref(&name, check)
                } else {
                    pipeline.try_map(&name, move |x| check(&x))
                };
                let failed = failed.clone();
                fallible.route_failures(move |failure: Failure<u64, Bad>, _| {
                    failed.lock().unwrap()[i].push(*failure.item());
                    failure.settle(Settled::Discarded);
                    std::future::ready(())
                })
            }
        };
    }
    let (sink, out) = sink::collect();
    let report =
        pipeline.batch("batch", batch, Duration::from_millis(5)).sink(sink).run().await.expect("runs");
    let got = Expected {
        delivered: out.take().into_iter().flatten().collect(),
        filtered: report.filtered(),
        failed: failed.lock().unwrap().clone(),
        emitted: (0..steps.len()).map(|i| report.stage(&format!("step-{i}")).unwrap().emitted).collect(),
        inspected: inspected.lock().unwrap().clone(),
    };
    (report, got)
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn chunks_change_how_items_move_never_what_happens_to_them(
        items in proptest::collection::vec(0..10_000u64, 0..600),
        waits in proptest::collection::vec(proptest::bool::weighted(0.1), 0..600),
        steps in steps(),
        batch in 1..300usize,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let expected = model(&items, &steps);
        let taken = items.len() as u64;
        let (report, got) = rt.block_on(run(items, waits, &steps, batch));
        prop_assert!(report.is_conserved(), "{}", report);
        prop_assert_eq!(report.source_items(), taken);
        prop_assert_eq!(report.delivered(), expected.delivered.len() as u64);
        prop_assert_eq!(report.discarded(), expected.failed.iter().map(|f| f.len() as u64).sum::<u64>());
        prop_assert_eq!(got, expected);
    }
}
