//! Property: for random failure patterns and classifications, the items
//! delivered and the items dead-lettered are disjoint and together are the
//! inputs, and each dead letter's attempts and class are what the retry
//! policy says.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;
use weir_core::{Classify, ErrorClass};
use weir_deadletter::{DeadLetterExt, DeadLetterOptions};
use weir_fanout::{FanOut, FanOutExt};
use weir_retry::{RetryExt, RetryPolicy};

#[derive(Debug, thiserror::Error)]
#[error("planned {0} failure")]
struct Planned(ErrorClass);

impl Classify for Planned {
    fn class(&self) -> ErrorClass {
        self.0
    }
}

/// How one item behaves: its first `fails` attempts fail with `class`.
#[derive(Debug, Clone, Copy)]
struct Plan {
    fails: u32,
    class: ErrorClass,
}

fn plan() -> impl Strategy<Value = Plan> {
    let class =
        prop_oneof![Just(ErrorClass::Transient), Just(ErrorClass::Permanent), Just(ErrorClass::Poison)];
    (0u32..4, class).prop_map(|(fails, class)| Plan { fails, class })
}

/// The attempts and class of an item's dead letter, or `None` if it is delivered.
fn expected(plan: Plan, max_attempts: u32) -> Option<(u32, ErrorClass)> {
    match plan {
        Plan { fails: 0, .. } => None,
        Plan { class: ErrorClass::Transient, fails } if fails < max_attempts => None,
        Plan { class: ErrorClass::Transient, .. } => Some((max_attempts, ErrorClass::Transient)),
        Plan { class, .. } => Some((1, class)),
    }
}

proptest! {
    // 256 cases, or PROPTEST_CASES (TESTING.md).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn delivered_and_dead_lettered_partition_the_inputs(
        plans in proptest::collection::vec(plan(), 0..40),
        max_attempts in 1u32..4,
        workers in 1usize..4,
        max_batch in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        let n = plans.len() as u32;
        let calls = Arc::new(Mutex::new(vec![0u32; plans.len()]));
        let op = {
            let (plans, calls) = (plans.clone(), calls.clone());
            move |i: u32| {
                let attempt = {
                    let mut calls = calls.lock().unwrap();
                    calls[i as usize] += 1;
                    calls[i as usize]
                };
                let plan = plans[i as usize];
                async move { if attempt <= plan.fails { Err(Planned(plan.class)) } else { Ok(i) } }
            }
        };
        let policy = RetryPolicy::constant(Duration::from_millis(5))
            .max_attempts(max_attempts);
        let (dead, records) = sink::collect();
        let (sink, delivered) = sink::collect();
        let report = rt.block_on(
            Pipeline::from_iter(0..n)
                .fan_out("work", FanOut::workers(workers).capacity(8), op.retry(policy).classify_by_trait())
                .dead_letter_with(dead, DeadLetterOptions::new().max_batch(max_batch))
                .sink(sink)
                .run(),
        ).unwrap();

        let delivered: Vec<u32> = delivered.take();
        let dead = records.take();
        let delivered_set: BTreeSet<u32> = delivered.iter().copied().collect();
        let dead_set: BTreeSet<u32> = dead.iter().map(|r| *r.item()).collect();
        prop_assert_eq!(delivered_set.len(), delivered.len(), "no item delivered twice");
        prop_assert_eq!(dead_set.len(), dead.len(), "no item dead-lettered twice");
        prop_assert!(delivered_set.is_disjoint(&dead_set));
        let all: BTreeSet<u32> = delivered_set.union(&dead_set).copied().collect();
        prop_assert_eq!(all, (0..n).collect::<BTreeSet<_>>());
        for i in 0..n {
            let want = expected(plans[i as usize], max_attempts);
            let got = dead.iter().find(|r| *r.item() == i).map(|r| (r.attempts(), r.class()));
            prop_assert_eq!(got, want, "item {} with {:?}", i, plans[i as usize]);
        }
        prop_assert_eq!(report.delivered(), delivered.len() as u64);
        prop_assert_eq!(report.dead_lettered(), dead.len() as u64);
        prop_assert!(report.is_conserved());
    }
}
