//! Property: whatever the item count, buffer capacity, batch size, filter
//! and failure pattern, every source item is accounted for exactly once,
//! and the delivered items are exactly the ones a simple model predicts.

mod common;

use std::time::Duration;

use common::{Bad, Buffer};
use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;

#[derive(Debug, Clone)]
struct Case {
    items: u64,
    buffer: Option<usize>,
    modulus: u64,
    fail_mask: u64,
    halt: bool,
    batch: usize,
}

fn cases() -> impl Strategy<Value = Case> {
    (0..150u64, proptest::option::of(1..8usize), 1..6u64, any::<u64>(), any::<bool>(), 1..10usize).prop_map(
        |(items, buffer, modulus, fail_mask, halt, batch)| Case {
            items,
            buffer,
            modulus,
            fail_mask,
            halt,
            batch,
        },
    )
}

impl Case {
    fn keeps(&self, x: u64) -> bool {
        !x.is_multiple_of(self.modulus) || self.modulus == 1
    }

    fn fails(&self, x: u64) -> bool {
        self.fail_mask & (1 << (x % 64)) != 0
    }
}

/// Runs the case; returns the report, the delivered items and the items of
/// halted failures.
async fn run(case: &Case) -> (Report, Vec<u64>, Vec<u64>) {
    let mut pipeline = Pipeline::from_iter(0..case.items);
    if let Some(capacity) = case.buffer {
        pipeline = pipeline.stage(Buffer::new("buffer", capacity));
    }
    let (keep, fail) = (case.clone(), case.clone());
    let checked = pipeline
        .filter("filter", move |x| keep.keeps(*x))
        .try_map("check", move |x| if fail.fails(x) { Err(Bad(x)) } else { Ok(x * 2) });
    let handled = if case.halt { checked.halt_on_error() } else { checked.discard_failures() };
    let (sink, out) = sink::collect();
    let result = handled.batch("group", case.batch, Duration::from_secs(3600)).sink(sink).run().await;
    let delivered: Vec<u64> = out.take().into_iter().flatten().collect();
    match result {
        Ok(report) => (report, delivered, Vec::new()),
        Err(RunError::Halted { failures, report }) => {
            let items = failures.into_iter().map(|f| f.into_item::<u64>().unwrap()).collect();
            (*report, delivered, items)
        }
        Err(other) => panic!("unexpected error: {other:?}"),
    }
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn every_item_is_accounted_for(case in cases()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (report, delivered, halted) = rt.block_on(run(&case));
        prop_assert!(report.is_conserved(), "{}", report);
        let taken = report.source_items();
        prop_assert_eq!(
            report.delivered() + report.filtered() + report.discarded() + report.returned(),
            taken
        );
        prop_assert_eq!(report.in_flight(), 0);

        // The model, applied to the items that left the source.
        let kept: Vec<u64> = (0..taken).filter(|x| case.keeps(*x)).collect();
        let failing: Vec<u64> = kept.iter().copied().filter(|x| case.fails(*x)).collect();
        let expected: Vec<u64> = kept.iter().copied().filter(|x| !case.fails(*x)).map(|x| x * 2).collect();
        prop_assert_eq!(&delivered, &expected);
        prop_assert_eq!(report.filtered(), taken - kept.len() as u64);
        prop_assert_eq!(report.stage("check").unwrap().failed, failing.len() as u64);

        let first_failure = (0..case.items).find(|x| case.keeps(*x) && case.fails(*x));
        if case.halt {
            prop_assert_eq!(&halted, &failing);
            prop_assert_eq!(report.returned(), failing.len() as u64);
            match (first_failure, case.buffer) {
                // Without a buffer, intake stops right at the first failure.
                (Some(first), None) => prop_assert_eq!(taken, first + 1),
                // A buffer may have taken a few more items (at most its capacity and the one its task holds).
                (Some(first), Some(capacity)) => {
                    prop_assert!(taken > first && taken <= (first + 2 + capacity as u64).min(case.items))
                }
                (None, _) => prop_assert_eq!(taken, case.items),
            }
            prop_assert_eq!(report.ending(), if first_failure.is_some() { Ending::Halted } else { Ending::Completed });
        } else {
            prop_assert_eq!(taken, case.items);
            prop_assert!(halted.is_empty());
            prop_assert_eq!(report.discarded(), failing.len() as u64);
            prop_assert_eq!(report.ending(), Ending::Completed);
        }
    }
}
